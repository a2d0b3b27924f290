"""Cloud Functions gen2 entry point of the webhook function: routing only, logic lives in shared/."""

import functions_framework

from shared.api.webhook import router

functions_framework.errorhandler(404)(router.framework_not_found)


@functions_framework.http
def webhook(request):
    return router.dispatch(request)
