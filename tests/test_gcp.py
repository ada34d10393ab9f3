"""One retry policy and one error mapping for the Google Cloud clients."""
import pytest
from google.api_core import exceptions as api_exceptions

from pagerstatus.errors import UpstreamError
from pagerstatus.gcp import call_options, upstream_errors


def test_transient_failures_are_retried_within_the_timeout_and_others_never():
    options = call_options(timeout=2.5)
    assert options["timeout"] == 2.5 and options["retry"].timeout == 2.5
    for failure, retried in [(api_exceptions.ServiceUnavailable("down"), True),
                             (api_exceptions.DeadlineExceeded("slow"), True),
                             (api_exceptions.PermissionDenied("no"), False),
                             (api_exceptions.FailedPrecondition("changed"), False)]:
        calls = []

        def call(failure=failure, calls=calls):
            calls.append(1)
            if len(calls) == 1:
                raise failure
            return "answered"

        if retried:
            assert options["retry"](call)() == "answered" and len(calls) == 2
        else:
            with pytest.raises(type(failure)):
                options["retry"](call)()
            assert len(calls) == 1
    # A call that must not repeat gets no retry.
    assert call_options(timeout=1.0, retry=False) == {"retry": None, "timeout": 1.0}


def test_a_failed_call_becomes_an_upstream_error_naming_the_service_and_the_step_and_a_bug_does_not():
    with pytest.raises(UpstreamError) as caught, upstream_errors("firestore", "reading the lock"):
        raise api_exceptions.ServiceUnavailable("connection refused")
    assert str(caught.value) == "firestore: reading the lock: connection refused"
    assert isinstance(caught.value.__cause__, api_exceptions.ServiceUnavailable)
    with pytest.raises(KeyError), upstream_errors("firestore", "reading the lock"):  # not reported as an outage
        raise KeyError("holder")
