"""Cloud Functions gen2 entry point of the oauth function: routing only, logic lives in shared/."""

import functions_framework

from shared.api.oauth import router

functions_framework.errorhandler(404)(router.framework_not_found)


@functions_framework.http
def oauth(request):
    return router.dispatch(request)
