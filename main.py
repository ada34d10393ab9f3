"""Cloud Function entry point: functions-framework --target pagerstatus --source main.py"""
import functions_framework

from pagerstatus.app import handle


@functions_framework.http
def pagerstatus(request):
    return handle(request)
