"""Google's OAuth 2.0 / OpenID Connect endpoints, as seen by oauthlib and google-auth."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
from urllib.parse import unquote, urlencode, urlparse

from werkzeug.wrappers import Request, Response

from .errors import OAuthError
from .keys import at_hash
from .store import AuthCode, RefreshToken

OPENID = "openid"
EMAIL_SCOPE = "https://www.googleapis.com/auth/userinfo.email"
PROFILE_SCOPE = "https://www.googleapis.com/auth/userinfo.profile"
SHORT_SCOPES = {"email": EMAIL_SCOPE, "profile": PROFILE_SCOPE}
IDENTITY_SCOPES = {OPENID, EMAIL_SCOPE, PROFILE_SCOPE}
GOOGLE_SCOPE_PREFIX = "https://www.googleapis.com/auth/"
ISSUER = "https://accounts.google.com"

SCOPE_DESCRIPTIONS = {
    OPENID: "Associate you with your personal info on Google",
    EMAIL_SCOPE: "See your primary Google Account email address",
    PROFILE_SCOPE: "See your personal info, including any personal info you've made publicly available",
}


def normalize_scopes(raw: str | None) -> list[str]:
    """Split and canonicalise a scope string the way Google echoes scopes back."""
    out: list[str] = []
    for s in (raw or "").replace(",", " ").split():
        s = SHORT_SCOPES.get(s, s)
        if s not in out:
            out.append(s)
    return out


def scope_string(scopes) -> str:
    return " ".join(sorted(scopes))


def invalid_scopes(app, scopes: list[str]) -> list[str]:
    known = app.discovery.all_scopes | IDENTITY_SCOPES
    return [s for s in scopes if s not in known and not s.startswith(GOOGLE_SCOPE_PREFIX)]


def scope_description(app, scope: str) -> str:
    if scope in SCOPE_DESCRIPTIONS:
        return SCOPE_DESCRIPTIONS[scope]
    return app.discovery.doc.get("auth", {}).get("oauth2", {}).get("scopes", {}).get(scope, {}).get("description", "")


def is_loopback_redirect(uri: str) -> bool:
    try:
        parsed = urlparse(uri)
    except ValueError:
        return False
    return parsed.scheme in ("http", "https") and parsed.hostname in ("127.0.0.1", "localhost", "::1") \
        and not parsed.fragment


def _json(data: dict, status: int = 200, headers: dict | None = None) -> Response:
    resp = Response(json.dumps(data, indent=2), status=status, mimetype="application/json")
    resp.headers["Cache-Control"] = "no-cache, no-store, max-age=0, must-revalidate"
    resp.headers["Pragma"] = "no-cache"
    for k, v in (headers or {}).items():
        resp.headers[k] = v
    return resp


def oauth_error_response(err: OAuthError) -> Response:
    return _json(err.body(), err.status, err.headers)


def _redirect(uri: str, params: dict) -> Response:
    sep = "&" if urlparse(uri).query else "?"
    resp = Response(status=302)
    resp.headers["Location"] = uri + sep + urlencode({k: v for k, v in params.items() if v is not None})
    return resp


def _error_page(app, status: int, error: str, description: str) -> Response:
    html = app.render("error.html", status=status, error=error, description=description)
    return Response(html, status=status, mimetype="text/html")


# ---- authorization endpoint ---------------------------------------------------------
def authorize(app, request: Request) -> Response:
    args = request.args
    client_id = args.get("client_id")
    if not client_id:
        return _error_page(app, 400, "invalid_request", "Missing required parameter: client_id")
    if client_id != app.config.client_id:
        return _error_page(app, 401, "invalid_client", "The OAuth client was not found.")
    redirect_uri = args.get("redirect_uri")
    if not redirect_uri:
        return _error_page(app, 400, "invalid_request", "Missing required parameter: redirect_uri")
    if not is_loopback_redirect(redirect_uri):
        return _error_page(
            app, 400, "redirect_uri_mismatch",
            f"You can't sign in to this app because it doesn't comply with Google's OAuth 2.0 policy. "
            f"The sandbox only accepts redirect URIs on 127.0.0.1/localhost, got: {redirect_uri}",
        )
    response_type = args.get("response_type")
    if response_type != "code":
        return _error_page(app, 400, "unsupported_response_type",
                           f"Invalid response_type: {response_type or ''} (the sandbox supports 'code')")
    scopes = normalize_scopes(args.get("scope"))
    if not scopes:
        return _error_page(app, 400, "invalid_request", "Missing required parameter: scope")
    bad = invalid_scopes(app, scopes)
    if bad:
        return _error_page(app, 400, "invalid_scope", f"Some requested scopes were invalid. {{invalid={bad}}}")
    challenge = args.get("code_challenge")
    method = args.get("code_challenge_method")
    if challenge:
        method = method or "plain"
        if method not in ("S256", "plain"):
            return _error_page(app, 400, "invalid_request", f"Invalid code_challenge_method: {method}")
        if not re.fullmatch(r"[A-Za-z0-9\-._~]{43,128}", challenge):
            return _error_page(app, 400, "invalid_request", "Invalid code_challenge.")
    elif method:
        return _error_page(app, 400, "invalid_request", "Missing required parameter: code_challenge")
    access_type = args.get("access_type", "online")
    if access_type not in ("online", "offline"):
        return _error_page(app, 400, "invalid_request", f"Invalid access_type: {access_type}")

    pending = {
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "scopes": scopes,
        "state": args.get("state"),
        "code_challenge": challenge,
        "code_challenge_method": method if challenge else None,
        "access_type": access_type,
        "prompt": (args.get("prompt") or "").split(),
        "include_granted_scopes": args.get("include_granted_scopes") == "true",
        "login_hint": args.get("login_hint"),
        "nonce": args.get("nonce"),
    }
    if "none" in pending["prompt"]:
        return _authorize_silently(app, pending)
    with app.state.lock:
        request_id = secrets.token_urlsafe(16)
        app.state.pending_auth[request_id] = pending
    return render_consent(app, request_id, selected=pending["login_hint"])


def _authorize_silently(app, pending: dict) -> Response:
    """prompt=none: succeed only for a known user who already granted every scope."""
    email = (pending["login_hint"] or "").lower()
    state = app.state
    with state.lock:
        if email not in state.users:
            return _redirect(pending["redirect_uri"], {"error": "login_required", "state": pending["state"]})
        granted = state.grants.get((email, pending["client_id"]), set())
        if not set(pending["scopes"]) <= granted:
            return _redirect(pending["redirect_uri"], {"error": "consent_required", "state": pending["state"]})
        return _issue_code(app, pending, email, list(pending["scopes"]), consent_shown=False)


def render_consent(app, request_id: str, selected: str | None = None, error: str | None = None,
                   checked: list[str] | None = None, status: int = 200) -> Response:
    state = app.state
    with state.lock:
        pending = state.pending_auth.get(request_id)
        if pending is None:
            return _error_page(app, 400, "invalid_request", "This authorization request has expired; start again.")
        users = [{"email": u.email, "name": u.name} for u in state.users.values()]
    selected = (selected or "").lower()
    if selected not in {u["email"] for u in users}:
        selected = users[0]["email"] if users else ""
    scopes = [{"scope": s, "description": scope_description(app, s)} for s in pending["scopes"]]
    html = app.render(
        "consent.html",
        request_id=request_id,
        users=users,
        selected=selected,
        scopes=scopes,
        checked=set(checked) if checked is not None else set(pending["scopes"]),
        client_id=pending["client_id"],
        redirect_uri=pending["redirect_uri"],
        error=error,
    )
    return Response(html, status=status, mimetype="text/html")


def consent(app, request: Request) -> Response:
    form = request.form
    request_id = form.get("request_id", "")
    with app.state.lock:
        pending = app.state.pending_auth.get(request_id)
    if pending is None:
        return _error_page(app, 400, "invalid_request", "This authorization request has expired; start again.")
    action = (form.get("action") or "").lower()
    if action == "deny":
        with app.state.lock:
            app.state.pending_auth.pop(request_id, None)
        return _redirect(pending["redirect_uri"], {"error": "access_denied", "state": pending["state"]})
    if action != "allow":
        return render_consent(app, request_id, error="Choose Allow or Deny.", status=400)
    email = (form.get("account") or "").strip().lower()
    chosen = [s for s in form.getlist("scope") if s in pending["scopes"]]
    with app.state.lock:
        if email not in app.state.users:
            return render_consent(app, request_id, error="Choose an account to continue.", checked=chosen, status=400)
        if not chosen:
            app.state.pending_auth.pop(request_id, None)
            return _redirect(pending["redirect_uri"], {"error": "access_denied", "state": pending["state"]})
        app.state.pending_auth.pop(request_id, None)
        return _issue_code(app, pending, email, chosen, consent_shown=True)


def add_account(app, request: Request) -> Response:
    form = request.form
    request_id = form.get("request_id", "")
    email = (form.get("email") or "").strip().lower()
    name = (form.get("name") or "").strip()
    if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email):
        return render_consent(app, request_id, error="Enter a valid email address.", status=400)
    with app.state.lock:
        if email not in app.state.users:
            app.state.add_user(email, name or email.split("@")[0].title())
    return render_consent(app, request_id, selected=email)


def _issue_code(app, pending: dict, email: str, chosen: list[str], consent_shown: bool) -> Response:
    state = app.state
    key = (email, pending["client_id"])
    previous = state.grants.get(key)
    scopes = set(chosen)
    if pending["include_granted_scopes"] and previous:
        scopes |= previous
    # Google's rule: a refresh token comes with a consent that created or widened a grant,
    # or with an explicit prompt=consent - not with a silent re-authorization.
    issue_refresh = pending["access_type"] == "offline" and consent_shown and (
        "consent" in pending["prompt"] or previous is None or not set(chosen) <= previous
    )
    state.grants[key] = (previous or set()) | set(chosen)
    code = AuthCode(
        code="4/0" + secrets.token_urlsafe(40),
        client_id=pending["client_id"],
        redirect_uri=pending["redirect_uri"],
        email=email,
        scopes=frozenset(scopes),
        code_challenge=pending["code_challenge"],
        code_challenge_method=pending["code_challenge_method"],
        expires_at=state.now() + int(app.config.auth_code_ttl_seconds),
        issue_refresh_token=issue_refresh,
        nonce=pending["nonce"],
    )
    state.auth_codes[code.code] = code
    return _redirect(pending["redirect_uri"], {
        "state": pending["state"],
        "code": code.code,
        "scope": scope_string(scopes),
        "authuser": "0",
        "prompt": "consent" if consent_shown else "none",
    })


# ---- token endpoint ---------------------------------------------------------------------
def _client_credentials(request: Request, params) -> tuple[str | None, str | None]:
    auth = request.headers.get("Authorization", "")
    if auth.lower().startswith("basic "):
        try:
            decoded = base64.b64decode(auth[6:].strip()).decode("utf-8")
            cid, _, secret = decoded.partition(":")
            # RFC 6749 2.3.1: both parts are form-urlencoded before base64.
            return unquote(cid.replace("+", " ")), unquote(secret.replace("+", " "))
        except (ValueError, UnicodeDecodeError):
            raise OAuthError("invalid_client", "Unauthorized", 401)
    return params.get("client_id"), params.get("client_secret")


def _token_params(request: Request) -> dict:
    if request.mimetype == "application/json":
        data = request.get_json(silent=True)
        if not isinstance(data, dict):
            raise OAuthError("invalid_request", "Invalid JSON payload received.")
        return {k: str(v) for k, v in data.items()}
    params = dict(request.args.items())
    params.update(request.form.items())
    return params


def token_user_hint(app, request: Request) -> str | None:
    """The Google user a token request is about (for email-scoped faults and logging)."""
    try:
        params = _token_params(request)
    except OAuthError:
        return None
    with app.state.lock:
        if params.get("grant_type") == "refresh_token":
            rt = app.state.refresh_tokens.get(params.get("refresh_token", ""))
            return rt.email if rt else None
        code = app.state.auth_codes.get(params.get("code", ""))
        return code.email if code else None


def token(app, request: Request) -> Response:
    params = _token_params(request)
    client_id, client_secret = _client_credentials(request, params)
    if not client_id:
        raise OAuthError("invalid_request", "Could not determine client ID from request.")
    if client_id != app.config.client_id:
        raise OAuthError("invalid_client", "The OAuth client was not found.", 401)
    if client_secret is None:
        raise OAuthError("invalid_request", "client_secret is missing.")
    if not hmac.compare_digest(client_secret, app.config.client_secret):
        raise OAuthError("invalid_client", "Unauthorized", 401)
    grant_type = params.get("grant_type")
    if grant_type == "authorization_code":
        return _exchange_code(app, params, client_id)
    if grant_type == "refresh_token":
        return _refresh(app, params, client_id)
    raise OAuthError("unsupported_grant_type", f"Invalid grant_type: {grant_type or ''}")


def _check_pkce(code: AuthCode, verifier: str | None) -> None:
    if not code.code_challenge:
        return
    if not verifier:
        raise OAuthError("invalid_grant", "Missing code verifier.")
    if code.code_challenge_method == "S256":
        computed = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii", "replace")).digest())
        computed = computed.rstrip(b"=").decode("ascii")
    else:
        computed = verifier
    if not hmac.compare_digest(computed, code.code_challenge):
        raise OAuthError("invalid_grant", "Invalid code verifier.")


def _exchange_code(app, params: dict, client_id: str) -> Response:
    raw_code = params.get("code")
    if not raw_code:
        raise OAuthError("invalid_request", "Missing required parameter: code")
    redirect_uri = params.get("redirect_uri")
    if not redirect_uri:
        raise OAuthError("invalid_request", "Missing parameter: redirect_uri")
    state = app.state
    with state.lock:
        code = state.auth_codes.get(raw_code)
        if code is None:
            raise OAuthError("invalid_grant", "Malformed auth code.")
        if code.used or code.expires_at <= state.now():
            # Google answers reused and expired codes the same terse way.
            raise OAuthError("invalid_grant", "Bad Request")
        if code.client_id != client_id:
            raise OAuthError("invalid_grant", "Unauthorized")
        if code.redirect_uri != redirect_uri:
            raise OAuthError("redirect_uri_mismatch", "Bad Request")
        _check_pkce(code, params.get("code_verifier"))
        # Single use, even if a later step fails: a code is burnt once presented validly.
        code.used = True
        refresh = None
        if code.issue_refresh_token:
            refresh = state.new_token("1//sandbox-", 40)
            state.refresh_tokens[refresh] = RefreshToken(
                token=refresh, email=code.email, client_id=client_id, scopes=code.scopes, created_at=state.now()
            )
        access = state.issue_access_token(code.email, client_id, code.scopes, refresh)
        body = _token_body(app, access, nonce=code.nonce)
        if refresh:
            body["refresh_token"] = refresh
    return _json(body)


def _refresh(app, params: dict, client_id: str) -> Response:
    raw = params.get("refresh_token")
    if not raw:
        raise OAuthError("invalid_request", "Missing required parameter: refresh_token")
    state = app.state
    with state.lock:
        rt = state.refresh_tokens.get(raw)
        if rt is None or rt.revoked or rt.email not in state.users:
            raise OAuthError("invalid_grant", "Token has been expired or revoked.")
        if rt.client_id != client_id:
            raise OAuthError("unauthorized_client", "Unauthorized")
        scopes = rt.scopes
        requested = normalize_scopes(params.get("scope"))
        if requested:
            # A scope parameter can only narrow the grant: clients (google-auth) send every
            # scope they once asked for, and Google answers with what was actually granted.
            scopes = frozenset(requested) & rt.scopes
            if not scopes:
                raise OAuthError("invalid_scope", "Some requested scopes were not originally granted.")
        access = state.issue_access_token(rt.email, client_id, scopes, rt.token)
        body = _token_body(app, access, nonce=None)
    return _json(body)


def _token_body(app, access, nonce: str | None) -> dict:
    body = {
        "access_token": access.token,
        "expires_in": int(round(access.expires_at - app.state.now())),
        "scope": scope_string(access.scopes),
        "token_type": "Bearer",
    }
    if OPENID in access.scopes:
        body["id_token"] = make_id_token(app, access, nonce)
    return body


def make_id_token(app, access, nonce: str | None) -> str:
    user = app.state.users[access.email]
    now = int(app.state.now())
    claims = {
        "iss": ISSUER,
        "azp": access.client_id,
        "aud": access.client_id,
        "sub": user.sub,
        "at_hash": at_hash(access.token),
        "iat": now,
        "exp": now + int(app.config.id_token_ttl_seconds),
    }
    # Like Google, identity claims follow the granted identity scopes.
    if EMAIL_SCOPE in access.scopes:
        claims["email"] = user.email
        claims["email_verified"] = True
    if PROFILE_SCOPE in access.scopes:
        claims.update(_profile_claims(user))
    if nonce:
        claims["nonce"] = nonce
    return app.keys.sign_jwt(claims)


def _profile_claims(user) -> dict:
    given, _, family = user.name.partition(" ")
    out = {"name": user.name, "given_name": given}
    if family:
        out["family_name"] = family
    return out


# ---- revoke / userinfo / tokeninfo / certs -----------------------------------------------
def revoke(app, request: Request) -> Response:
    raw = request.form.get("token") or request.args.get("token")
    if not raw:
        raise OAuthError("invalid_request", "Missing required parameter: token")
    state = app.state
    with state.lock:
        tok = state.refresh_tokens.get(raw)
        if tok is None:
            tok = state.access_tokens.get(raw)
            if tok is not None and tok.expires_at <= state.now():
                tok = None
        if tok is None or tok.revoked:
            raise OAuthError("invalid_token", "Token expired or revoked")
        # Google revokes the app's whole grant for the user, whichever token is presented.
        state.revoke_grant(tok.email, tok.client_id)
    return _json({})


def _bearer(app, request: Request):
    auth = request.headers.get("Authorization", "")
    raw = auth[7:].strip() if auth.lower().startswith("bearer ") else request.args.get("access_token")
    tok = app.state.lookup_access_token(raw) if raw else None
    if tok is None:
        raise OAuthError("invalid_request", "Invalid Credentials", 401,
                         headers={"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/", error="invalid_token"'})
    return tok


def userinfo(app, request: Request) -> Response:
    tok = _bearer(app, request)
    with app.state.lock:
        user = app.state.users[tok.email]
        out = {"sub": user.sub}
        if EMAIL_SCOPE in tok.scopes:
            out.update({"email": user.email, "email_verified": True})
        if PROFILE_SCOPE in tok.scopes:
            out.update(_profile_claims(user))
    return _json(out)


def tokeninfo(app, request: Request) -> Response:
    raw = request.values.get("access_token")
    if raw:
        tok = app.state.lookup_access_token(raw)
        if tok is None:
            raise OAuthError("invalid_token", "Invalid Value")
        user = app.state.users[tok.email]
        out = {
            "azp": tok.client_id,
            "aud": tok.client_id,
            "sub": user.sub,
            "scope": scope_string(tok.scopes),
            "exp": str(int(tok.expires_at)),
            "expires_in": str(max(0, int(tok.expires_at - app.state.now()))),
            "access_type": "offline" if tok.refresh_token else "online",
        }
        if EMAIL_SCOPE in tok.scopes:
            out.update({"email": user.email, "email_verified": "true"})
        return _json(out)
    raise OAuthError("invalid_request", "Missing required parameter: access_token")


def certs_v1(app, request: Request) -> Response:
    resp = _json(app.keys.certs_v1())
    resp.headers["Cache-Control"] = "public, max-age=3600, must-revalidate, no-transform"
    return resp


def certs_v3(app, request: Request) -> Response:
    resp = _json(app.keys.jwks_v3())
    resp.headers["Cache-Control"] = "public, max-age=3600, must-revalidate, no-transform"
    return resp


def openid_configuration(app, request: Request) -> Response:
    base = request.host_url.rstrip("/")
    return _json({
        "issuer": ISSUER,
        "authorization_endpoint": f"{base}/o/oauth2/v2/auth",
        "token_endpoint": f"{base}/token",
        "userinfo_endpoint": f"{base}/oauth2/v3/userinfo",
        "revocation_endpoint": f"{base}/revoke",
        "jwks_uri": f"{base}/oauth2/v3/certs",
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": ["openid", "email", "profile"],
        "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        "code_challenge_methods_supported": ["plain", "S256"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
    })
