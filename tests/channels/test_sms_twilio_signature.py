"""X-Twilio-Signature as Twilio computes it, pinned to Twilio's published examples."""

from __future__ import annotations

from channels.sms.twilio_signature import is_valid, twilio_signature, url_variants

TOKEN = "12345"
URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
PARAMS = [("CallSid", "CA1234567890ABCDE"), ("Caller", "+14158675309"), ("Digits", "1234"),
          ("From", "+14158675309"), ("To", "+18005551212")]


def test_twilio_published_vectors() -> None:
    assert twilio_signature(TOKEN, URL, PARAMS) == "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    assert twilio_signature(TOKEN, URL, list(reversed(PARAMS))) == "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    repeated = [("Sid", "CA123"), ("SidAccount", "AC123"), ("Digits", "5678"),
                ("Digits", "1234"), ("Digits", "1234")]
    assert twilio_signature(TOKEN, URL, repeated) == "IK+Dwps556ElfBT0I3Rgjkr1wJU="


def test_url_with_or_without_the_default_port_is_accepted() -> None:
    assert url_variants(URL) == ("https://mycompany.com:443/myapp.php?foo=1&bar=2", URL)
    signed_with_port = twilio_signature(TOKEN, "https://mycompany.com:443/myapp.php?foo=1&bar=2",
                                        PARAMS)
    assert is_valid(TOKEN, URL, PARAMS, signed_with_port)
    assert is_valid(TOKEN, "https://mycompany.com:443/myapp.php?foo=1&bar=2", PARAMS,
                    "RSOYDt4T1cUTdK1PDd93/VVr8B8=")


def test_anything_altered_fails() -> None:
    good = "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    assert not is_valid(TOKEN, URL, [*PARAMS[:2], ("Digits", "9999"), *PARAMS[3:]], good)
    assert not is_valid(TOKEN, URL, [*PARAMS, ("Extra", "1")], good)
    assert not is_valid(TOKEN, URL + "&x=1", PARAMS, good)
    assert not is_valid("54321", URL, PARAMS, good)
    assert not is_valid(TOKEN, URL, PARAMS, "")
    assert not is_valid("", URL, PARAMS, good)
