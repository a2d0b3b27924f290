"""Cloud Functions gen2 entry point of the booking function: routing only, logic lives in shared/."""

import functions_framework

from shared.api.booking import router

functions_framework.errorhandler(404)(router.framework_not_found)


@functions_framework.http
def booking(request):
    return router.dispatch(request)
