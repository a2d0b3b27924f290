"""Google's OAuth 2.0 web-server flow (google-auth-oauthlib), id_token checks and revocation.

The flow is stateless between the two requests, so the caller keeps `state` and the PKCE
`code_verifier` that `authorization_url` returns and hands the verifier back to `exchange_code`.
Endpoints come from settings (Google in the cloud, the sandbox locally).
"""

from __future__ import annotations

import os

from shared import errors, secrets
from shared.adapters.google_calendar import SCOPES
from shared.config import settings
from shared.logs import get_logger, log

logger = get_logger("google_oauth")

# Google answers with the scopes actually granted, which differ from the request: `email`
# comes back as .../userinfo.email and include_granted_scopes adds earlier grants. oauthlib
# would raise "Scope has changed"; we compare the granted scopes ourselves (granted_scopes).
os.environ["OAUTHLIB_RELAX_TOKEN_SCOPE"] = "1"

ISSUERS = ("https://accounts.google.com", "accounts.google.com")
_SHORT_SCOPES = {
    "email": "https://www.googleapis.com/auth/userinfo.email",
    "profile": "https://www.googleapis.com/auth/userinfo.profile",
}


def normalize_scopes(scopes) -> set[str]:
    """Scopes as a set of canonical names, from a space-separated string or a list."""
    if isinstance(scopes, str):
        scopes = scopes.replace(",", " ").split()
    return {_SHORT_SCOPES.get(s, s) for s in scopes or ()}


def missing_scopes(granted) -> list[str]:
    return sorted(normalize_scopes(SCOPES) - normalize_scopes(granted))


def _flow(code_verifier: str | None = None):
    from google_auth_oauthlib.flow import Flow

    cfg = settings()
    client_config = {
        "web": {
            "client_id": cfg.google_client_id,
            "client_secret": secrets.get(secrets.OAUTH_CLIENT_SECRET),
            "auth_uri": cfg.google_auth_uri,
            "token_uri": cfg.google_token_uri,
            "redirect_uris": [cfg.oauth_redirect_uri],
        }
    }
    return Flow.from_client_config(
        client_config,
        scopes=list(SCOPES),
        redirect_uri=cfg.oauth_redirect_uri,
        code_verifier=code_verifier,
        autogenerate_code_verifier=code_verifier is None,
    )


def authorization_url(*, state: str, prompt: str, login_hint: str | None = None
                      ) -> tuple[str, str]:
    """(URL to send the browser to, PKCE code_verifier to keep until the callback)."""
    flow = _flow()
    params = {"access_type": "offline", "include_granted_scopes": "true", "state": state,
              "prompt": prompt}
    if login_hint:
        params["login_hint"] = login_hint
    url, _ = flow.authorization_url(**params)
    return url, flow.code_verifier


def exchange_code(code: str, code_verifier: str) -> dict:
    """The token response ({access_token, refresh_token?, id_token?, scope, ...})."""
    import requests
    from oauthlib.oauth2.rfc6749.errors import InvalidGrantError, OAuth2Error

    flow = _flow(code_verifier)
    try:
        return dict(flow.fetch_token(code=code, timeout=settings().google_http_timeout))
    except InvalidGrantError:
        raise errors.InvalidInput(
            "Google did not accept this sign-in: the authorization code was already used or has "
            "expired. Please start again.",
            code="oauth_code_rejected",
        ) from None
    except OAuth2Error as exc:
        log(logger, 30, "token exchange refused", error=exc.error, status=exc.status_code)
        if exc.status_code and exc.status_code >= 500:
            raise errors.UpstreamUnavailable("Google is not answering right now; try again") from None
        raise errors.InvalidInput(
            f"Google refused the sign-in ({exc.error}); please start again.",
            code="oauth_code_rejected",
        ) from None
    except requests.RequestException:
        raise errors.UpstreamUnavailable("Google could not be reached; try again") from None


def verify_id_token(token: str) -> dict:
    """The id_token's claims after checking signature, audience, expiry and issuer."""
    import google.auth.transport.requests
    from google.auth import exceptions as auth_exceptions
    from google.oauth2 import id_token

    cfg = settings()
    try:
        claims = id_token.verify_token(
            token,
            google.auth.transport.requests.Request(),
            audience=cfg.google_client_id,
            certs_url=cfg.google_certs_uri,
            clock_skew_in_seconds=10,
        )
    except auth_exceptions.TransportError:
        raise errors.UpstreamUnavailable("Google could not be reached; try again") from None
    except (ValueError, auth_exceptions.GoogleAuthError) as exc:
        log(logger, 30, "id_token rejected", reason=str(exc)[:200])
        raise errors.InvalidInput(
            "Google's answer could not be verified; please start again.", code="id_token_invalid"
        ) from None
    if claims.get("iss") not in ISSUERS or not claims.get("sub"):
        raise errors.InvalidInput(
            "Google's answer could not be verified; please start again.", code="id_token_invalid"
        )
    return claims


def revoke(token: str) -> bool:
    """Revoke a grant at Google; True when done or already gone, False when Google was unreachable."""
    import requests

    try:
        response = requests.post(
            settings().google_revoke_uri,
            data={"token": token},
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            timeout=settings().google_http_timeout,
        )
    except requests.RequestException as exc:
        log(logger, 30, "revoke failed", reason=type(exc).__name__)
        return False
    # 400 invalid_token: the user (or an earlier attempt) revoked it already.
    if response.status_code == 200 or response.status_code == 400:
        return True
    log(logger, 30, "revoke refused", status=response.status_code)
    return False
