"""Cloud Function entry point: functions-framework --target pagerstatus --source main.py"""
import functions_framework
from werkzeug.exceptions import HTTPException

from pagerstatus.app import framework_error, handle


@functions_framework.http
def pagerstatus(request):
    return handle(request)


# Registered on the framework's app (redirects and its crash handler keep their own answers).
functions_framework.errorhandler(HTTPException)(framework_error)
