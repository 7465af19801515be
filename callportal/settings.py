"""The one settings module of callportal.

Every deployment-specific value comes from the environment (or a `.env` file beside
`manage.py`); `.env.example` documents each variable. Defaults are safe for a developer's
machine: SQLite, DEBUG off, nothing exposed beyond localhost.
"""

import os
import tempfile
from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)


def _secret(name: str) -> str:
    # Read around django-environ: it treats a value starting with "$" as a reference to
    # another variable, and generated secrets may start with "$".
    return os.environ.get(name, "")


DEBUG = env.bool("DEBUG", default=False)

# A missing SECRET_KEY is tolerated only with DEBUG on (a throw-away key per process);
# without it sessions and API key digests would change on every restart.
SECRET_KEY = _secret("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Put a long random value in the SECRET_KEY environment "
            "variable (or in .env), for example the output of: "
            "python -c 'import secrets; print(secrets.token_urlsafe(50))'"
        )
    from django.core.management.utils import get_random_secret_key

    SECRET_KEY = get_random_secret_key()

# The key for the HMAC digests of API keys and tokens. Separate from SECRET_KEY so that the
# session secret can be rotated without invalidating every integration's API key.
API_DIGEST_KEY = _secret("API_DIGEST_KEY") or SECRET_KEY

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI assets served by us, not a CDN
    "import_export",
    "axes",
    "callportal",
    "directory",
    "retention",
    "calls",
    "purge",
    "longpoll",
    "apikeys",
    "audit",
    "access_log",
    "lockouts",
    "verba",
    "ingest",
    "staff",
    "webhooks",
    "demo",
]

MIDDLEWARE = [
    # Before anything reads a body: a body that stops arriving times out.
    "callportal.body_timeout.BodyReadTimeout",
    # Then: nothing may read the query string before it is read as UTF-8.
    "callportal.charsets.QueryStringMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # The admin in its user's time zone, as the staff pages (after the user is known).
    "callportal.admin_zone.AdminInUsersZone",
    # Last, as django-axes asks: it turns a locked-out login into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "callportal.urls"
WSGI_APPLICATION = "callportal.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "directory.context_processors.staff_gate",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------
# SQLite is the zero-configuration default; DATABASE_URL=postgres://… switches to
# PostgreSQL through psycopg2. The SQLite path is anchored to the project, not the
# current directory.
DATABASES = {"default": env.db_url("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
_db = DATABASES["default"]
DB_PREPARED_STATEMENTS = False  # PostgreSQL only, below
if _db["ENGINE"] == "django.db.backends.sqlite3":
    # Concurrent writers wait for the lock (busy timeout) and take it at BEGIN, instead
    # of failing with "database is locked" when a read transaction tries to upgrade.
    _db.setdefault("OPTIONS", {}).update(
        {
            "timeout": env.int("SQLITE_BUSY_TIMEOUT", default=20),
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
    # Tests run on a throw-away file, not in memory: a shared-cache memory database fails
    # concurrent writers with "table is locked" instead of letting them wait as the real
    # file does, so concurrency tests would test the wrong thing. One file per process.
    _db["TEST"] = {
        "NAME": os.path.join(tempfile.gettempdir(), f"callportal-test-{os.getpid()}.sqlite3")
    }
else:
    # Reused connections are worth ~7x throughput. By default a bounded pool per process
    # keeps them (callportal/pooled_postgresql): at most DB_POOL_SIZE per worker process,
    # so WEB_CONCURRENCY × DB_POOL_SIZE (2 × 5 = 10) per app server whatever the load; a
    # request waits up to DB_POOL_TIMEOUT for a free one. DB_POOL_SIZE=0 turns the pool off:
    # then each thread keeps its own connection for DB_CONN_MAX_AGE seconds (unbounded).
    DB_POOL_SIZE = env.int("DB_POOL_SIZE", default=5)
    if DB_POOL_SIZE > 0:
        _db["ENGINE"] = "callportal.pooled_postgresql"
        _db["POOL_OPTIONS"] = {
            "POOL_SIZE": DB_POOL_SIZE,
            "MAX_OVERFLOW": 0,
            "TIMEOUT": env.float("DB_POOL_TIMEOUT", default=30.0),
            "PRE_PING": False,
            # Replace connections after this long (server-side memory, PgBouncer-free
            # failover of a DNS name).
            "RECYCLE": env.int("DB_POOL_RECYCLE", default=900),
        }
        # Every request gives its connection back to the pool when it ends.
        _db["CONN_MAX_AGE"] = 0
    else:
        _db["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=60)
        _db["CONN_HEALTH_CHECKS"] = True
    # The hot lookups (shared/sql.py) are PREPAREd once per connection: planning the
    # token and number lookups cost several times their execution. Turn off behind a
    # PgBouncer in transaction mode, which hands each transaction any server connection
    # (SQL-level PREPARE breaks).
    DB_PREPARED_STATEMENTS = env.bool("DB_PREPARED_STATEMENTS", default=True)
    # The timeouts turn a stopped database into a quick "service unavailable" instead of
    # a 30 s hang.
    _db.setdefault("OPTIONS", {}).update(
        {
            "connect_timeout": env.int("DB_CONNECT_TIMEOUT", default=5),
            "options": f"-c statement_timeout={env.int('DB_STATEMENT_TIMEOUT_MS', default=30000)}"
            # A prepared statement is planned once, not again for every run (PostgreSQL's
            # default may keep planning it); its generic plan is tested.
            " -c plan_cache_mode=force_generic_plan",
        }
    )

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# django-axes first: it refuses a locked-out user name or address before any password is
# hashed, and records each failure (the login pages, the admin and RequestToken alike).
# Django's list, with its default PBKDF2 hasher computing on the CPU pool (same hashes).
PASSWORD_HASHERS = [
    "callportal.hashers.PooledPBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
# Dates as YYYY-MM-DD hh:mm:ss in the admin too (callportal/formats/en/formats.py).
FORMAT_MODULE_PATH = ["callportal.formats"]
USE_I18N = True
USE_TZ = True

# --- Shared cache (Redis) ------------------------------------------------------------------
# Optional. With REDIS_URL (redis://host:6379/0) the default cache is Redis through
# django-redis, shared by every app server, and the API throttle counts there. Without it,
# a per-process memory cache (nothing relies on it being shared) and the throttle counts
# in the database.
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            # Several deployments (or test runs) may share one Redis: keys carry a prefix.
            "KEY_PREFIX": env.str("REDIS_KEY_PREFIX", default="callportal"),
            "OPTIONS": {
                # A Redis that stops answering must not hold requests for long.
                "SOCKET_CONNECT_TIMEOUT": env.float("REDIS_TIMEOUT", default=1.0),
                "SOCKET_TIMEOUT": env.float("REDIS_TIMEOUT", default=1.0),
            },
        }
    }
# After a Redis failure, each process leaves Redis alone this long (the throttle does not
# count meanwhile) and logs the failure once: not a timeout or a warning per request.
REDIS_BACKOFF_SECONDS = env.float("REDIS_BACKOFF_SECONDS", default=5.0)

# --- Static and uploaded files ------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(BASE_DIR / "media")))
MEDIA_URL = "media/"  # never served directly: recordings go through a permission check
# Recordings (and the admin import's confirm-step files) go to the default storage: local
# files under MEDIA_ROOT, or, with S3_BUCKET set, an S3-compatible bucket shared by every
# app server (django-storages). Credentials come the AWS way (AWS_ACCESS_KEY_ID and
# AWS_SECRET_ACCESS_KEY in the environment, or an instance role), never from settings.
S3_BUCKET = env.str("S3_BUCKET", default="")
_DEFAULT_STORAGE: dict = {"BACKEND": "django.core.files.storage.FileSystemStorage"}
if S3_BUCKET:
    _DEFAULT_STORAGE = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": S3_BUCKET,
            # Empty: AWS itself; e.g. https://minio.internal:9000 for another S3 server.
            "endpoint_url": env.str("S3_ENDPOINT_URL", default="") or None,
            "region_name": env.str("S3_REGION", default="") or None,
            # Keys under this prefix, so a bucket may be shared.
            "location": env.str("S3_PREFIX", default=""),
            # Private objects; a name that exists gets a suffix instead of being replaced.
            "default_acl": None,
            "file_overwrite": False,
            "querystring_auth": True,
        },
    }
STORAGES = {
    "default": _DEFAULT_STORAGE,
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            # Without collectstatic's manifest (tests, a fresh checkout) the manifest
            # storage cannot name any file and every page using {% static %} fails.
            if not DEBUG and (STATIC_ROOT / "staticfiles.json").exists()
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
# The admin's CSV import keeps the uploaded file between its preview and confirm steps in
# the default storage (not a local temp folder), so the confirm may reach another server.
IMPORT_EXPORT_TMP_STORAGE_CLASS = "import_export.tmp_storages.MediaStorage"
# Tests and `runserver` work without a prior collectstatic.
WHITENOISE_USE_FINDERS = True
WHITENOISE_MANIFEST_STRICT = False

# --- HTTPS and proxies ------------------------------------------------------------------
# HTTPS=on is for deployments that are reached over TLS (directly or via a proxy).
HTTPS = env.bool("HTTPS", default=False)
SECURE_SSL_REDIRECT = HTTPS
# Load balancer probes often speak plain HTTP to the app server: answer them, not 301.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000 if HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# Addresses (IPs or CIDR ranges) of reverse proxies whose X-Forwarded-For / -Proto / -Host
# headers are believed. Empty: the peer address is the client and those headers are ignored.
TRUSTED_PROXIES = env.list("TRUSTED_PROXIES", default=[])
if TRUSTED_PROXIES:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    USE_X_FORWARDED_HOST = True

# --- The Verba Business API --------------------------------------------------------------
# Base of the call URLs that GetCallURL returns; empty means "derive from the request".
PUBLIC_URL = env.str("PUBLIC_URL", default="").rstrip("/")
API_TOKEN_LIFETIME = env.int("API_TOKEN_LIFETIME", default=3600)  # seconds
# Requests per minute per API key (and per client address for requests without a valid
# key); "off" switches throttling off entirely, for test rigs and benchmarks.
API_THROTTLE = env.str("API_THROTTLE", default="600/min")
# Where the throttle's buckets live, so one allowance holds across every process and app
# server: "database" (an UNLOGGED table on PostgreSQL), "redis" (needs REDIS_URL), or
# "process" (per process: each worker allows the full rate; single-process setups only).
API_THROTTLE_STORE = env.str("API_THROTTLE_STORE", default="redis" if REDIS_URL else "database")
NEXT_WINDOW_SECONDS = env.float("NEXT_WINDOW_SECONDS", default=60.0)
NEXT_GRACE_SECONDS = env.float("NEXT_GRACE_SECONDS", default=5.0)
# How often each process's long-poll watcher looks for calls written by other processes.
NEXT_POLL_SECONDS = env.float("NEXT_POLL_SECONDS", default=0.25)
# Most `next` requests one process holds at once; beyond it they are answered "temporarily
# unavailable". Under gevent workers (gunicorn.conf.py's default) a waiting request is a
# greenlet: 1,000 per process. Under threaded workers each occupies a thread: 3/4 of
# GUNICORN_THREADS, leaving the rest for other requests.
_GEVENT = env.str("GUNICORN_WORKER_CLASS", default="gevent") == "gevent"
NEXT_MAX_WAITING = env.int(
    "NEXT_MAX_WAITING",
    default=1000 if _GEVENT else max(1, env.int("GUNICORN_THREADS", default=64) * 3 // 4),
)
MAX_CALL_LENGTH_HOURS = env.float("MAX_CALL_LENGTH_HOURS", default=24.0)
# A call DeleteCall marked while it was going on is deleted by the write that ends it, or
# else by a sweep each server process runs this often (s); 0 turns the sweep off (tests).
DELETION_SWEEP_SECONDS = env.float("DELETION_SWEEP_SECONDS", default=5.0)

# --- Retention (docs/retention.md) ---------------------------------------------------------
# Days after its end that a call no retention rule matches is deleted; unset: kept for ever.
RETENTION_DEFAULT_DAYS: int | None = env.int("RETENTION_DEFAULT_DAYS", default=None)
if RETENTION_DEFAULT_DAYS is not None and RETENTION_DEFAULT_DAYS < 1:
    raise ImproperlyConfigured("RETENTION_DEFAULT_DAYS must be a whole number of days, at least 1.")
# Each server process runs retention this often (minutes); one server at a time does the work
# (purge/lock.py). 0 turns the runs off (then run `manage.py apply_retention` from cron).
RETENTION_SWEEP_MINUTES = env.float("RETENTION_SWEEP_MINUTES", default=60.0)
# Calls deleted per transaction by a retention run.
RETENTION_BATCH_SIZE = env.int("RETENTION_BATCH_SIZE", default=500)
# `manage.py apply_retention` lowers its CPU priority to this niceness (0–19; 0 leaves it):
# a purge of a backlog then takes the CPU the app's requests leave (docs/retention.md).
RETENTION_NICENESS = env.int("RETENTION_NICENESS", default=10)
if not 0 <= RETENTION_NICENESS <= 19:
    raise ImproperlyConfigured("RETENTION_NICENESS must be a whole number from 0 to 19.")
# --- Webhooks (docs/webhooks.md) ----------------------------------------------------------
# Endpoint URLs must be https:// unless this is on (a receiver on a trusted network).
WEBHOOK_ALLOW_HTTP = env.bool("WEBHOOK_ALLOW_HTTP", default=False)
# Private, loopback, link-local, multicast and reserved addresses are refused (checked on the
# address connected to, after DNS) unless this is on.
WEBHOOK_ALLOW_PRIVATE = env.bool("WEBHOOK_ALLOW_PRIVATE", default=False)
# Each server process looks for due deliveries this often (s), besides being woken at once
# by its own commits; 0: this process does not deliver (tests, one-off commands).
WEBHOOK_POLL_SECONDS = env.float("WEBHOOK_POLL_SECONDS", default=1.0)
# Deliveries one process sends at once.
WEBHOOK_CONCURRENCY = env.int("WEBHOOK_CONCURRENCY", default=8)
# How long a server holds a delivery it is sending; one killed mid-send lets it go after
# this, and it is sent again. More than the 5 s an attempt may take.
WEBHOOK_LEASE_SECONDS = env.float("WEBHOOK_LEASE_SECONDS", default=60.0)
# `manage.py prune_webhooks` deletes messages older than this that nothing waits to send;
# 0 keeps all.
WEBHOOK_RETENTION_DAYS = env.int("WEBHOOK_RETENTION_DAYS", default=30)

# Attempts at RequestToken per period, per API key and (separately) per client address: each
# one costs a password hash (about half a second of CPU), so this is far below API_THROTTLE.
API_TOKEN_THROTTLE = env.str("API_TOKEN_THROTTLE", default="60/min")

# --- Login lockout (django-axes) -----------------------------------------------------------
# LOGIN_FAILURE_LIMIT failed logins lock out the user name (from any address) and the user
# name from that address; LOGIN_ADDRESS_FAILURE_LIMIT (default ten times as many) lock out the
# client address for every user name, so that one user's mistakes do not lock out everyone
# behind a shared address. On /accounts/login/, /admin/login/ and RequestToken alike, for
# LOGIN_LOCKOUT_MINUTES (0: until an administrator unlocks it in the admin).
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
LOGIN_ADDRESS_FAILURE_LIMIT = env.int(
    "LOGIN_ADDRESS_FAILURE_LIMIT", default=10 * AXES_FAILURE_LIMIT
)
_lockout_minutes = env.int("LOGIN_LOCKOUT_MINUTES", default=15)
AXES_COOLOFF_TIME = timedelta(minutes=_lockout_minutes) if _lockout_minutes > 0 else None
# Each set has its own limit (lockouts.handler).
AXES_HANDLER = "lockouts.handler.LockoutHandler"
AXES_LOCKOUT_PARAMETERS = [["username"], ["username", "ip_address"], ["ip_address"]]
# The same client address as everywhere else (X-Forwarded-For only from TRUSTED_PROXIES).
AXES_CLIENT_IP_CALLABLE = "shared.clients.client_address"
# Attempts while locked out neither count nor extend the lockout: it ends on time.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
# Failures only: no row per successful login.
AXES_DISABLE_ACCESS_LOG = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
# The lockouts room's "Login lockouts" screen replaces axes' own admin sections.
AXES_ENABLE_ADMIN = False
# Masked in the request data axes stores and in its log lines.
AXES_SENSITIVE_PARAMETERS = [
    "username",
    "ip_address",
    "password",
    "userName",
    "apiKey",
    "token",
    "csrfmiddlewaretoken",
]

# --- Audit trail and admin ----------------------------------------------------------------
# Audit rows are buffered in process and written in batches: every AUDIT_FLUSH_SECONDS, or
# as soon as AUDIT_FLUSH_ROWS are waiting. 0 seconds writes each row at once (tests).
AUDIT_FLUSH_SECONDS = env.float("AUDIT_FLUSH_SECONDS", default=1.0)
AUDIT_FLUSH_ROWS = env.int("AUDIT_FLUSH_ROWS", default=500)
# `manage.py prune_audit` deletes audit rows older than this (0: keeps everything);
# `manage.py prune_sessions` API tokens finished longer ago than this.
AUDIT_RETENTION_DAYS = env.int("AUDIT_RETENTION_DAYS", default=180)
SESSION_RETENTION_DAYS = env.int("SESSION_RETENTION_DAYS", default=30)
# `manage.py prune_access_log` deletes access log events older than this (0: keeps all).
ACCESS_LOG_RETENTION_DAYS = env.int("ACCESS_LOG_RETENTION_DAYS", default=730)

# --- Recordings -------------------------------------------------------------------------
RECORDING_MAX_BYTES = env.int("RECORDING_MAX_BYTES", default=200 * 1024 * 1024)
RECORDING_CONTENT_TYPES = env.list(
    "RECORDING_CONTENT_TYPES",
    default=[
        "audio/wav",
        "audio/x-wav",
        "audio/mpeg",
        "audio/ogg",
        "audio/opus",
        "audio/webm",
        "audio/mp4",
        "audio/flac",
    ],
)

# Seconds a request's body (an upload) may pause before the request is given up (408 /
# code 1): a stalled client must not hold its request, nor what the request holds, forever.
REQUEST_BODY_TIMEOUT_SECONDS = env.float("REQUEST_BODY_TIMEOUT_SECONDS", default=30.0)

# --- CPU work off the event loop (shared/cpu_pool.py, recordings/work.py) ------------------
# Transcodes, waveforms and password hashes run on this many OS threads per worker process,
# never on the gevent loop that serves every other request of the worker.
CPU_POOL_THREADS = max(1, env.int("CPU_POOL_THREADS", default=4))
# The longest a request waits for its piece of CPU work (queue included): then code 9 / 503.
CPU_POOL_TIMEOUT_SECONDS = env.float("CPU_POOL_TIMEOUT_SECONDS", default=300.0)
# At most this many transcodes and waveforms run at once per worker process; one more is
# answered at once as busy (code 9, HTTP 503 with Retry-After). Keep it below
# CPU_POOL_THREADS, so that a password hash never queues behind transcodes.
AUDIO_WORK_MAX = max(1, env.int("AUDIO_WORK_MAX", default=2))

# --- Django REST framework ----------------------------------------------------------------
REST_FRAMEWORK: dict[str, object] = {
    # responseType is the Business API's only format switch; DRF's own would answer 404/406.
    "URL_FORMAT_OVERRIDE": None,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": [],
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "callportal call ingestion API",
    # Swagger UI shows this as Markdown: the way back to the site's pages.
    "DESCRIPTION": "Recorders and PBX connectors push call records here. "
    "[Back to callportal](/) · [Staff call list](/calls/)",
    "VERSION": "1",
    # Tags come from the first path segment after this ("calls"), not "default".
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "TAGS": [{"name": "calls", "description": "Call records and their recordings."}],
    # An optional choice's "" is said in the field's description, not as a "BlankEnum".
    "ENUM_ADD_EXPLICIT_BLANK_NULL_CHOICE": False,
    "SERVE_INCLUDE_SCHEMA": False,
    # The docs page works offline: its assets come from drf-spectacular-sidecar.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- Logging ----------------------------------------------------------------------------
# Error reports (DEBUG page, error mails) blank apiKey/token/password wherever they would
# show them: GET parameters, the URL, headers, POST data and frame variables.
DEFAULT_EXCEPTION_REPORTER = "callportal.reporting.SecretScrubbingReporter"
DEFAULT_EXCEPTION_REPORTER_FILTER = "callportal.reporting.SecretScrubbingFilter"

# Every handler carries the scrub_secrets filter: it blanks apiKey, token, password and
# userName values (and key/token/authorization headers) in every line, tracebacks included.
# A handler added here must carry it too. gunicorn's own logs: logconfig_dict in
# gunicorn.conf.py. docs/deployment.md lists what is logged and what never is.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "scrub_secrets": {"()": "callportal.log_scrubbing.ScrubSecrets"},
        "once_per_address": {"()": "callportal.log_limits.OncePerAddressPerMinute"},
    },
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["scrub_secrets"],
        }
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        # Django logs every 4xx/5xx with the full path, query string included: that would
        # put apiKey/token values into the log, so request logging stays at ERROR and the
        # API answers its own errors in the body.
        "django.request": {"level": "ERROR"},
        "django.server": {"level": "ERROR"},
        # A foreign Host header: one line per client address per minute, no traceback.
        "django.security.DisallowedHost": {"filters": ["once_per_address"]},
    },
}
