from capi.ingest.auth import ApiKeyAuth, AuthResult, presented_key


def auth(*keys, open_=False):
    return ApiKeyAuth(lambda: tuple(keys), allow_unauthenticated=open_)


def test_key_from_x_api_key_or_bearer():
    assert presented_key({"X-API-Key": " k1 "}) == "k1"
    assert presented_key({"Authorization": "Bearer k2"}) == "k2"
    assert presented_key({"Authorization": "bearer   k3"}) == "k3"
    assert presented_key({"Authorization": "Basic abc"}) == ""
    assert presented_key({}) == ""


def test_valid_missing_and_wrong_keys():
    a = auth("k1")
    assert a.identify({"X-API-Key": "k1"})[0] is AuthResult.OK
    assert a.identify({})[0] is AuthResult.MISSING
    assert a.identify({"X-API-Key": "k2"})[0] is AuthResult.INVALID
    assert a.identify({"X-API-Key": "k1x"})[0] is AuthResult.INVALID


def test_two_keys_valid_at_once_for_rotation():
    a = auth("old", "new")
    assert a.identify({"X-API-Key": "old"})[0] is AuthResult.OK
    assert a.identify({"Authorization": "Bearer new"})[0] is AuthResult.OK


def test_no_keys_refuses_unless_explicitly_open():
    assert auth().identify({"X-API-Key": "anything"})[0] is AuthResult.NOT_CONFIGURED
    assert auth(open_=True).identify({})[0] is AuthResult.OK


def test_keys_are_read_per_request_so_rotation_applies():
    current = ["k1"]
    a = ApiKeyAuth(lambda: tuple(current))
    assert a.identify({"X-API-Key": "k1"})[0] is AuthResult.OK
    current[:] = ["k2"]
    assert a.identify({"X-API-Key": "k1"})[0] is AuthResult.INVALID
    assert a.identify({"X-API-Key": "k2"})[0] is AuthResult.OK
