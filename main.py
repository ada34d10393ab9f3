"""Cloud Function entry point: functions-framework --target pagerstatus --source main.py"""
import functions_framework
from werkzeug.exceptions import HTTPException

from pagerstatus import log
from pagerstatus.app import Service, json_error
from pagerstatus.runtime import Runtime

# The process' one Service: its Runtime (keys, clients, caches, locks) is built on the first request.
redactor = log.configure()
service = Service(lambda: Runtime.from_environment(redactor=redactor))


@functions_framework.http
def pagerstatus(request):
    return service.handle(request)


# Registered on the framework's app (redirects and its crash handler keep their own answers).
functions_framework.errorhandler(HTTPException)(json_error)
