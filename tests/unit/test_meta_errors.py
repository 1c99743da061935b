import pytest

from capi.meta.answers import MetaError, Outcome, classify


def graph_error(status, code=None, subcode=None, **extra):
    error = {"message": "localized text that must not matter", "type": "OAuthException"}
    if code is not None:
        error["code"] = code
    if subcode is not None:
        error["error_subcode"] = subcode
    error.update(extra)
    return MetaError.from_response(status, {"error": error})


@pytest.mark.parametrize(
    ("status", "code", "subcode", "expected"),
    [
        (400, 100, 2804003, Outcome.REJECTED),  # too old
        (400, 100, 2804016, Outcome.REJECTED),  # not hashed
        (400, 100, 2804050, Outcome.REJECTED),  # too little customer information
        (400, 100, 2804009, Outcome.REJECTED),
        (400, 100, 33, Outcome.CONFIG),  # no such pixel
        (401, 190, None, Outcome.TOKEN),
        (500, 190, None, Outcome.TOKEN),  # 190 has been seen with 500: not transient
        (403, 10, None, Outcome.CONFIG),
        (403, 200, None, Outcome.CONFIG),
        (400, 3, None, Outcome.CONFIG),
        (400, 1, None, Outcome.TRANSIENT),
        (400, 2, None, Outcome.TRANSIENT),
        (400, 4, None, Outcome.TRANSIENT),
        (400, 17, None, Outcome.TRANSIENT),
        (400, 341, None, Outcome.TRANSIENT),
        (400, 368, None, Outcome.TRANSIENT),
        (400, 613, None, Outcome.TRANSIENT),
        (400, 80003, None, Outcome.TRANSIENT),
        (500, None, None, Outcome.TRANSIENT),
        (503, 99999, None, Outcome.TRANSIENT),
        (429, None, None, Outcome.TRANSIENT),
        (400, 99999, None, Outcome.REJECTED),
    ],
)
def test_classified_by_code_not_text(status, code, subcode, expected):
    assert classify(graph_error(status, code, subcode)) is expected


def test_is_transient_flag_wins_over_a_permanent_looking_code():
    assert classify(graph_error(400, 100, 2804019, is_transient=True)) is Outcome.TRANSIENT


def test_bodies_that_are_not_graph_errors():
    assert classify(MetaError.from_response(502, None)) is Outcome.TRANSIENT
    assert classify(MetaError.from_response(502, "<html>bad gateway</html>")) is Outcome.TRANSIENT
    assert classify(MetaError.from_response(404, {"x": 1})) is Outcome.REJECTED
    e = MetaError.from_response(400, {"error": {"code": "100", "error_subcode": "2804003"}})
    assert (e.code, e.subcode) == (100, 2804003)
