"""The one endpoint of the Business API: /verba/api, dispatching on `action`.

The checks run in the contract's order, and the first failure answers:
responseType → action → repeated parameters → throttling → apiKey → network restriction →
token → action parameters → lookup. Every failure, expected or not, becomes one
(code, message) Answer rendered in the requested format.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from typing import Any

from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponseBase
from django.utils import timezone
from rest_framework.exceptions import MethodNotAllowed
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apikeys.models import ApiKey, ApiSession
from apikeys.selectors import key_digest_of, key_of, key_read, session_read, token_owner
from apikeys.services import touch_session
from audit.models import UNKNOWN_ACTION
from audit.services import record_api_request
from directory.selectors import zone
from shared.clients import client_address
from shared.sql import Ran, Read, run, run_anchored, run_together
from verba.actions import Action, Context, ReadAhead, TokenRule, get_action, known_names
from verba.answers import Answer
from verba.auth import (
    VIEW_PERMISSION,
    check_key,
    check_token,
    check_user_permission,
    presented_secret,
    request_scope,
    request_zone_name,
)
from verba.codes import ApiError, Code, Message, invalid
from verba.negotiation import ResponseTypeNegotiation, response_type
from verba.params import Params, request_params
from verba.renderers import RENDERERS, XmlRenderer
from verba.throttling import retry_after, retry_after_spent, spend_read

logger = logging.getLogger(__name__)

# An unknown action is echoed in `type`, cut to this length.
TYPE_ECHO_LENGTH = 64

SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


def echoed_action(params: Params) -> str:
    """The `type` of an answer: the action as given, cut short; empty when repeated."""
    if params.is_repeated("action"):
        return ""
    return (params.get("action") or "")[:TYPE_ECHO_LENGTH]


def audited_action(echoed: str) -> str:
    """The action as the audit trail names it: a known name, or a fixed marker."""
    if not echoed or get_action(echoed) is not None:
        return echoed
    return UNKNOWN_ACTION


def names_media_action(params: Params) -> bool:
    """Whether the request names a media action, whose every error is XML whatever
    responseType says (contract §7.0). Read from the parameters alone, so that it holds for
    errors found before the action's handler runs (a bad key or token, throttling) too."""
    if params.is_repeated("action"):
        return False
    action = get_action(params.get("action") or "")
    return action is not None and action.media


def refused_request(
    request: HttpRequest, message: str, code: Code = Code.INVALID_REQUEST
) -> Response:
    """An answer in the requested format for a request Django refused or failed before this
    view ran (a Host header outside ALLOWED_HOSTS: code 1; an error in a middleware: code
    9): a Verba client still gets an answer it can read, with the code's HTTP status. No key
    is looked up and no audit row is written: the request never reached the API (Django's
    log has it)."""
    params = request_params(Request(request, parsers=[FormParser(), MultiPartParser()]))
    wanted, _ = response_type(params)
    if names_media_action(params):
        wanted = XmlRenderer.format
    renderer = next(r() for r in RENDERERS if r.format == wanted)
    answer = Answer(type=echoed_action(params), code=code, message=message)
    response = Response(answer, status=answer.http_status, headers=SECURITY_HEADERS)
    response.accepted_renderer = renderer
    response.accepted_media_type = renderer.media_type
    # What DRF's finalize_response would set; django-stubs' Response does not declare it.
    response.renderer_context = {}  # type: ignore[attr-defined]
    return response.render()


class ActionMethodNotAllowed(Exception):
    """The action takes other HTTP methods (PutMedia: POST only)."""

    def __init__(self, action: Action) -> None:
        self.action = action
        self.message = f"{action.name} takes {' or '.join(sorted(action.methods))} only."
        super().__init__(self.message)


@dataclass
class _Trail:
    """What the audit row of this request will say; ids only, never a secret."""

    action: str = ""
    api_key_id: int | None = None
    user_id: int | None = None
    client_address: str | None = None
    call_id: Any = None
    change: str = ""
    # The result code of an answer that is not rendered (a media file).
    code: Code | None = None


class VerbaApiView(APIView):
    http_method_names = ["get", "post"]
    renderer_classes = RENDERERS
    parser_classes = [FormParser, MultiPartParser]
    content_negotiation_class = ResponseTypeNegotiation
    # Keys, tokens and throttling are the Business API's own (see below); APIView wraps the
    # view in csrf_exempt, and no session authentication can bring CSRF back.
    authentication_classes: list[Any] = []
    permission_classes: list[Any] = []
    throttle_classes: list[Any] = []
    # The Business API is described in docs/api.md; the OpenAPI schema covers /api/v1 only.
    schema = None

    # The zone of this request's times (§7.0): UTC until a token names its user's.
    zone_name = "UTC"

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        # `next` waits for calls that start after this moment: taken before anything else.
        self.arrived_at = timezone.now()
        started = time.perf_counter()
        self.trail = _Trail()
        response = super().dispatch(request, *args, **kwargs)
        self._record(response, started)
        return response

    def get(self, request: Request) -> HttpResponseBase:
        answer = self.answer(request)
        if answer.media is not None:
            self.trail.code = answer.code
            return answer.media
        return Response(answer, status=answer.http_status, headers=answer.headers)

    post = get

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        # Before the method check, so that a 405's audit row names its client too.
        self.trail.client_address = client_address(request)
        super().initial(request, *args, **kwargs)

    def answer(self, request: Request) -> Answer:
        params = request_params(request)
        address = self.trail.client_address
        self._name_action(params)
        action = self._check_request(params)
        raw_key = presented_secret(params, request, "apiKey", "HTTP_X_API_KEY", Message.KEY_TWICE)
        raw_token = presented_secret(
            params, request, "token", "HTTP_X_API_TOKEN", Message.TOKEN_TWICE
        )
        # The action's parameters, read once: by its first read now, by its handler later.
        form = action.form(params)
        # The token's user, found again inside the action's first read, whose scope that
        # read then checks itself: no statement of its own for the scope.
        owner = token_owner(raw_token) if raw_key and raw_token else None
        stored_key, stored_session, reader, spent = self._look_up(
            raw_key, raw_token, action.first_read(form, self.arrived_at, owner), address
        )
        self._throttle(stored_key, address, spent)
        api_key = check_key(raw_key, stored_key, address, [p.value for p in action.key_permissions])
        session = self._check_token(action, api_key, raw_token, stored_session)
        self.zone_name = request_zone_name(session)
        if self.zone_name != "UTC":
            form.in_zone(zone(self.zone_name))
        context = Context(
            request=request,
            params=params,
            api_key=api_key,
            session=session,
            client_address=address,
            arrived_at=self.arrived_at,
            form=form,
            user_id=session.user_id if session else None,
            reader=reader,
            scope=request_scope(api_key, session),
            owner=owner,
            zone=zone(self.zone_name),
        )
        try:
            answer = action.run(context)
        finally:
            self.trail.user_id = context.user_id
        self.trail.call_id = answer.call_id
        self.trail.change = context.change
        if self.zone_name != answer.time_zone:
            answer = replace(answer, time_zone=self.zone_name)
        return answer

    def _name_action(self, params: Params) -> None:
        # Errors name the action in `type` from the start (an unknown one echoed, cut short).
        self.trail.action = echoed_action(params)

    def _check_request(self, params: Params) -> Action:
        """responseType → action → repeated parameters (all code 1)."""
        self._check_method(params)
        if params.unreadable:
            raise invalid(params.unreadable)
        _, problem = response_type(params)
        if problem:
            raise invalid(problem)
        if params.is_repeated("action"):
            raise invalid(Message.ACTION_REPEATED)
        name = params.get("action")
        if name is None:
            raise invalid(Message.ACTION_MISSING)
        action = get_action(name)
        if action is None:
            raise invalid(Message.ACTION_UNKNOWN)
        repeatable = action.form.repeatable_names()
        repeated = [n for n in params.repeated_names() if n not in repeatable]
        if repeated:
            # Named only when it is a parameter name the API declares: any other text of the
            # request is never echoed.
            known = [n for n in repeated if n in known_names()]
            raise invalid(
                Message.REPEATED.format(name=known[0]) if known else Message.REPEATED_OTHER
            )
        return action

    def _check_method(self, params: Params) -> None:
        """HTTP 405 for a method the named action does not take, before anything else (as
        for a method no action takes)."""
        name = None if params.is_repeated("action") else params.get("action")
        action = get_action(name) if name else None
        if action is not None and self.request.method not in action.methods:
            raise ActionMethodNotAllowed(action)

    def _look_up(
        self,
        raw_key: str | None,
        raw_token: str | None,
        ahead: Read[Any] | None,
        address: str | None,
    ) -> tuple[ApiKey | None, ApiSession | None, ReadAhead, Ran[float] | None]:
        """The stored key and session the request names, whatever their state (judged
        later, in the contract's order), the action's first query (`ahead`) and, with the
        database throttle store, the request's spend from its bucket (in a `Ran`: the wait
        it answered): all in one round trip when the token belongs to the key. Looked up on
        every request, so that a revoked key or a released token is refused at once.

        With a token, one query brings the session and its key; the action's query runs
        only when the session (or, without a token, the key) exists: a request with an
        unknown key or token never reaches the calls table. The spend is the statement's
        anchor, spent whatever the rest finds (a guessed key spends from its address's
        bucket), and only judged after the lookup, as the contract orders.
        """
        by_key = key_read(raw_key) if raw_key else None
        by_token = (
            session_read(raw_token, permission=VIEW_PERMISSION) if by_key and raw_token else None
        )
        # The token's session (with its key) or the key: one read either way.
        first: Read[Any] | None = by_token or by_key
        spend = spend_read(key_digest_of(by_key) if by_key else None, address)
        ran = spent = None
        if isinstance(spend, Ran):  # spent from this process's lease: no write to send
            spent, spend = spend, None
        if spend is not None:
            wait, found, ran = run_anchored(connection, spend, first, ahead)
            spent = Ran(wait)
        elif first is None:
            found = None
        elif ahead is None:
            found = run(connection, first)
        else:
            found, ran = run_together(connection, first, ahead)
        stored_session = found if by_token else None
        # The session's own key when it is the one presented, else one more query.
        stored_key = key_of(by_key, session=stored_session) if by_key and by_token else found
        self.trail.api_key_id = stored_key.pk if stored_key else None
        reader = ReadAhead(ahead, ran.answer) if ran is not None else ReadAhead()
        return stored_key, stored_session, reader, spent

    def _throttle(
        self, stored_key: ApiKey | None, address: str | None, spent: Ran[float] | None
    ) -> None:
        """Code 7 when the client is over its rate.

        Throttled per key when the request names a stored key, else per client address, so
        guessing keys from one address is limited too. The key is judged only after
        throttling, as the contract orders. `spent`: the spend already made with the
        lookup (the database store), else one is made here.
        """
        if spent is not None:
            wait = retry_after_spent(spent.answer)
        else:
            wait = retry_after(f"key:{stored_key.pk}" if stored_key else f"address:{address}")
        if wait is not None:
            raise ApiError(
                Code.TOO_MANY_REQUESTS, Message.THROTTLED, headers={"Retry-After": str(wait)}
            )

    def _check_token(
        self,
        action: Action,
        api_key: ApiKey,
        raw_token: str | None,
        stored_session: ApiSession | None,
    ) -> ApiSession | None:
        required = action.token_rule is TokenRule.ALWAYS or (
            action.token_rule is TokenRule.AS_KEY_SAYS and api_key.requires_auth
        )
        session = check_token(raw_token, stored_session, api_key, required=required)
        if session is not None:
            self.trail.user_id = session.user_id
            if action.needs_view_permission:
                check_user_permission(session, action.user_permissions)
            touch_session(session)
        return session

    # --- everything that goes wrong -------------------------------------------------------

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, ActionMethodNotAllowed):
            # In XML, whatever responseType says, as the contract's other 405.
            self.request.accepted_renderer = XmlRenderer()
            self.request.accepted_media_type = XmlRenderer.media_type
            self.headers["Allow"] = ", ".join(sorted(exc.action.methods))
            answer = Answer(
                type=self.trail.action,
                code=Code.INVALID_REQUEST,
                message=exc.message,
                time_zone=self.zone_name,
            )
            return Response(answer, status=405)
        if isinstance(exc, MethodNotAllowed):
            self._name_action(request_params(self.request))
            error = invalid(Message.METHOD)
            status = 405
        else:
            error = self._as_api_error(exc)
            status = error.code.http_status
        # The contract answers a wrong method, and any error of a media action, in XML
        # whatever responseType says.
        if (
            isinstance(exc, MethodNotAllowed)
            or getattr(self.request, "accepted_renderer", None) is None
            or names_media_action(request_params(self.request))
        ):
            self.request.accepted_renderer = XmlRenderer()
            self.request.accepted_media_type = XmlRenderer.media_type
        answer = Answer(
            type=self.trail.action,
            code=error.code,
            message=error.message,
            time_zone=self.zone_name,
        )
        return Response(answer, status=status, headers=error.headers)

    def _as_api_error(self, exc: Exception) -> ApiError:
        if isinstance(exc, ApiError):
            return exc
        if isinstance(exc, DatabaseError):
            # The database is away or refused; nothing was changed (each write is atomic).
            logger.warning("Business API answered 9: database error %s", type(exc).__name__)
        else:
            # A bug. The traceback names no parameter values; the request is not logged.
            logger.exception("Business API answered 9: unexpected %s", type(exc).__name__)
        return ApiError(Code.UNAVAILABLE, Message.UNAVAILABLE)

    @property
    def default_response_headers(self) -> dict[str, str]:
        # DRF's default adds "Vary: Accept", but Accept never changes the answer here.
        return {"Allow": ", ".join(self.allowed_methods)}

    def finalize_response(
        self, request: Request, response: Response, *args: Any, **kwargs: Any
    ) -> Response:
        response = super().finalize_response(request, response, *args, **kwargs)
        for header, value in SECURITY_HEADERS.items():
            response[header] = value
        return response

    def _record(self, response: HttpResponseBase, started: float) -> None:
        answer = getattr(response, "data", None)
        if isinstance(answer, Answer):
            code = answer.code
        else:  # a media file, or nothing we answered
            code = self.trail.code if self.trail.code is not None else Code.UNAVAILABLE
        try:
            record_api_request(
                at=self.arrived_at,
                action=audited_action(self.trail.action),
                api_key_id=self.trail.api_key_id,
                user_id=self.trail.user_id,
                client_address=self.trail.client_address,
                result_code=int(code),
                call_id=self.trail.call_id,
                duration_ms=round((time.perf_counter() - started) * 1000),
                change=self.trail.change,
            )
        except Exception:
            # The answer stands even when its audit row cannot be written.
            logger.exception("Business API audit row not written")
