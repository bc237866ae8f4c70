#!/usr/bin/env python3
"""Write the grouping golden-test corpus: tests/data/grouping/corpus.json.

Each entry is {"name": str, "platform": str, "event": {...}} where "event" is the raw JSON an SDK
would send (before Relay/Sentry normalization).  The output is fully deterministic: a fixed seed
drives every random choice and the file is written with sorted keys, so re-running produces a
byte-identical file.  Any Python 3 (no third-party packages) runs it:

    python3 tests/grouping/make_corpus.py [--out tests/data/grouping/corpus.json]

Names are unique and grouped by a prefix (py/, js/, node/, java/, native/, cocoa/, msg/, threads/,
nostack/, fp/, checksum/, edge/, misc/).  Entries whose names end in `@a`/`@b` are deliberate pairs
that tests/grouping/generate.py checks (see CHECKS there).
"""
import argparse
import json
import os
import random

SEED = 20230711
rng = random.Random(SEED)

CORPUS = []
NAMES = set()


def event_id():
    return "%032x" % rng.getrandbits(128)


def add(name, platform, event):
    assert name not in NAMES, name
    NAMES.add(name)
    ev = {"event_id": event_id(), "platform": platform}
    ev.update(event)
    if ev.get("platform") is None:
        del ev["platform"]
    CORPUS.append({"name": name, "platform": platform, "event": ev})


def exc(type_, value, frames=None, module=None, mechanism=None, **extra):
    e = {}
    if type_ is not None:
        e["type"] = type_
    if value is not None:
        e["value"] = value
    if module:
        e["module"] = module
    if frames is not None:
        e["stacktrace"] = {"frames": frames}
    if mechanism:
        e["mechanism"] = mechanism
    e.update(extra)
    return e


def exc_event(*excs, **extra):
    ev = {"exception": {"values": list(excs)}}
    ev.update(extra)
    return ev


# ------------------------------------------------------------------------------------------------
# Python
# ------------------------------------------------------------------------------------------------
PY_SITE = "/usr/local/lib/python3.11/site-packages/"
PY_LIB = [
    ("django.core.handlers.exception", "inner", "django/core/handlers/exception.py",
     "response = get_response(request)"),
    ("django.core.handlers.base", "_get_response", "django/core/handlers/base.py",
     "response = wrapped_callback(request, *callback_args, **callback_kwargs)"),
    ("django.views.generic.base", "view", "django/views/generic/base.py",
     "return self.dispatch(request, *args, **kwargs)"),
    ("rest_framework.views", "dispatch", "rest_framework/views.py",
     "response = handler(request, *args, **kwargs)"),
    ("celery.app.trace", "__protected_call__", "celery/app/trace.py",
     "return self.run(*args, **kwargs)"),
    ("sqlalchemy.engine.base", "_execute_context", "sqlalchemy/engine/base.py",
     "self.dialect.do_execute("),
    ("sqlalchemy.engine.default", "do_execute", "sqlalchemy/engine/default.py",
     "cursor.execute(statement, parameters)"),
    ("requests.api", "request", "requests/api.py",
     "return session.request(method=method, url=url, **kwargs)"),
    ("requests.sessions", "send", "requests/sessions.py", "r = adapter.send(request, **kwargs)"),
    ("requests.adapters", "send", "requests/adapters.py",
     "raise ConnectionError(e, request=request)"),
    ("urllib3.connectionpool", "urlopen", "urllib3/connectionpool.py",
     "httplib_response = self._make_request("),
    ("json.decoder", "raw_decode", "/usr/local/lib/python3.11/json/decoder.py",
     "raise JSONDecodeError(\"Expecting value\", s, err.value) from None"),
]
PY_APP = [
    ("myapp.views", "checkout", "myapp/views.py", "order = Order.objects.create_from_cart(cart)"),
    ("myapp.views", "profile", "myapp/views.py", "user = get_user(request.GET['user_id'])"),
    ("myapp.models.order", "create_from_cart", "myapp/models/order.py",
     "total = sum(item.price for item in cart.items)"),
    ("myapp.services.billing", "charge", "myapp/services/billing.py",
     "resp = requests.post(BILLING_URL, json=payload, timeout=5)"),
    ("myapp.services.billing", "parse_amount", "myapp/services/billing.py",
     "return int(raw_amount) / qty"),
    ("myapp.tasks", "sync_inventory", "myapp/tasks.py", "for sku in fetch_skus(): update(sku)"),
    ("myapp.utils.cache", "get_or_set", "myapp/utils/cache.py", "value = cache[key]"),
    ("myapp.api.serializers", "validate", "myapp/api/serializers.py",
     "raise ValidationError(f\"bad value {value}\")"),
]


def py_frame(spec, in_app, lineno=None, with_context=True, with_module=True, vars_=False):
    module, function, filename, ctx = spec
    if filename.startswith("/"):
        abs_path = filename
    elif in_app:
        abs_path = "/srv/app/" + filename
    else:
        abs_path = PY_SITE + filename
    f = {
        "filename": filename,
        "abs_path": abs_path,
        "function": function,
        "lineno": lineno if lineno is not None else rng.randint(10, 900),
    }
    if with_module:
        f["module"] = module
    if in_app is not None:
        f["in_app"] = in_app
    if with_context:
        f["context_line"] = "    " + ctx
        f["pre_context"] = ["", "    # surrounding code"]
        f["post_context"] = ["    return result", ""]
    if vars_:
        f["vars"] = {"request": "<WSGIRequest: GET '/checkout/?id=3'>", "user_id": "'42'"}
    return f


def py_stack(n_lib, n_app, in_app_flags=True, **kw):
    lib = rng.sample(PY_LIB, n_lib)
    app = rng.sample(PY_APP, n_app)
    frames = [py_frame(s, False if in_app_flags else None, **kw) for s in lib]
    frames += [py_frame(s, True if in_app_flags else None, **kw) for s in app]
    return frames


PY_EXCS = [
    ("ValueError", "invalid literal for int() with base 10: 'abc'", "builtins"),
    ("KeyError", "'user_id'", "builtins"),
    ("ZeroDivisionError", "division by zero", "builtins"),
    ("TypeError", "unsupported operand type(s) for +: 'int' and 'NoneType'", "builtins"),
    ("AttributeError", "'NoneType' object has no attribute 'items'", "builtins"),
    ("IntegrityError", "duplicate key value violates unique constraint \"order_pkey\"\n"
     "DETAIL:  Key (id)=(1234) already exists.", "django.db.utils"),
    ("ConnectionError", "HTTPSConnectionPool(host='billing.internal', port=443): Max retries "
     "exceeded with url: /v1/charge (Caused by NewConnectionError('<urllib3.connection."
     "HTTPSConnection object at 0x7f3a2c1b9d60>: Failed to establish a new connection: "
     "[Errno 111] Connection refused'))", "requests.exceptions"),
    ("PaymentFailed", "Card declined for order 98231", "myapp.errors"),
    ("JSONDecodeError", "Expecting value: line 1 column 1 (char 0)", "json.decoder"),
    ("OperationalError", "could not connect to server: Connection refused\n\tIs the server "
     "running on host \"10.0.3.17\" and accepting TCP/IP connections on port 5432?",
     "psycopg2"),
]

for i in range(24):
    t, v, m = PY_EXCS[i % len(PY_EXCS)]
    variant = i // len(PY_EXCS)
    frames = py_stack(rng.randint(1, 4), rng.randint(0, 3) if variant else rng.randint(1, 3),
                      with_context=(i % 5 != 4), with_module=(i % 7 != 6), vars_=(i % 3 == 0))
    mech = None
    if i % 4 == 0:
        mech = {"type": "django", "handled": False}
    elif i % 4 == 1:
        mech = {"type": "generic", "handled": True}
    add("py/exc-%02d-%s" % (i, t.lower()), "python", exc_event(
        exc(t, v, frames, module=m, mechanism=mech),
        level=rng.choice(["error", "error", "fatal", "warning"]),
        logger=rng.choice(["django.request", "myapp", None]) or "",
        transaction=rng.choice(["/checkout/", "myapp.views.checkout", "sync_inventory"]),
        sdk={"name": "sentry.python.django", "version": "1.28.1"},
    ))

# no in_app flags at all: only the system variant can contribute
for i in range(3):
    t, v, m = PY_EXCS[i]
    add("py/no-in-app-flags-%d" % i, "python",
        exc_event(exc(t, v, py_stack(2, 2, in_app_flags=False), module=m)))

# only library frames (app variant has no in-app frames)
for i in range(3):
    t, v, m = PY_EXCS[i + 3]
    add("py/lib-only-%d" % i, "python",
        exc_event(exc(t, v, [py_frame(s, False) for s in rng.sample(PY_LIB, 3)], module=m)))

# same stack, different line numbers -> same hash
_base = [py_frame(PY_LIB[1], False, lineno=100), py_frame(PY_APP[0], True, lineno=33),
         py_frame(PY_APP[2], True, lineno=77)]
_shifted = json.loads(json.dumps(_base))
for f in _shifted:
    f["lineno"] += 17
add("py/lineno-only@a", "python", exc_event(exc("ValueError", "bad cart", _base)))
add("py/lineno-only@b", "python", exc_event(exc("ValueError", "bad cart", _shifted)))

# same stack, different exception value -> same hash (value ignored when stack contributes)
add("py/value-differs@a", "python", exc_event(exc("KeyError", "'a'", json.loads(json.dumps(_base)))))
add("py/value-differs@b", "python", exc_event(exc("KeyError", "'b'", json.loads(json.dumps(_base)))))

# same stack, different context_line in an in-app frame -> different hash
_ctx = json.loads(json.dumps(_base))
_ctx[2]["context_line"] = "    total = sum(i.price * i.qty for i in cart.items)"
add("py/context-line-differs@a", "python", exc_event(exc("ValueError", "bad cart", json.loads(json.dumps(_base)))))
add("py/context-line-differs@b", "python", exc_event(exc("ValueError", "bad cart", _ctx)))

# whitespace-only difference in context_line
_ws = json.loads(json.dumps(_base))
_ws[2]["context_line"] = "\t  total  =  sum(item.price   for item in cart.items)   "
add("py/context-line-whitespace", "python", exc_event(exc("ValueError", "bad cart", _ws)))

# very long context line (>120 chars are not used for grouping)
_long = json.loads(json.dumps(_base))
_long[2]["context_line"] = "    x = " + " + ".join("value_%d" % k for k in range(40))
add("py/context-line-long", "python", exc_event(exc("ValueError", "bad cart", _long)))

# chained exceptions (oldest first, as the Python SDK sends them)
for i in range(6):
    n = 2 + i % 3
    values = []
    for k in range(n):
        t, v, m = PY_EXCS[(i + k * 3) % len(PY_EXCS)]
        mech = {"type": "chained", "source": "__context__", "exception_id": k + 1,
                "parent_id": k} if (i % 2 and k) else None
        values.append(exc(t, v, py_stack(1, rng.randint(0, 2)), module=m, mechanism=mech))
    if i % 2:
        values[0]["mechanism"] = {"type": "django", "handled": False, "exception_id": 0}
    add("py/chained-%d" % i, "python", {"exception": {"values": values}})

# chained where one link has no stacktrace
add("py/chained-one-without-stack", "python", exc_event(
    exc("ConnectionRefusedError", "[Errno 111] Connection refused", None, module="builtins"),
    exc("ConnectionError", "billing unavailable", py_stack(1, 2), module="requests.exceptions"),
))

# Python exception group (PEP 654) marked via mechanism
add("py/exception-group", "python", exc_event(
    exc("ValueError", "bad item 1", py_stack(0, 1),
        mechanism={"type": "chained", "source": "exceptions[0]", "exception_id": 1, "parent_id": 0}),
    exc("TypeError", "bad item 2", py_stack(0, 1),
        mechanism={"type": "chained", "source": "exceptions[1]", "exception_id": 2, "parent_id": 0}),
    exc("ExceptionGroup", "multiple errors (2 sub-exceptions)", py_stack(1, 1),
        mechanism={"type": "generic", "handled": False, "exception_id": 0,
                   "is_exception_group": True}),
))

# recursion (repeated identical frames)
_rec = [py_frame(PY_LIB[0], False, lineno=10)] + \
    [py_frame(("myapp.tree", "walk", "myapp/tree.py", "return walk(node.left)"), True, lineno=12)
     for _ in range(8)]
add("py/recursion", "python", exc_event(exc("RecursionError", "maximum recursion depth exceeded", _rec)))
_rec2 = [_rec[0]] + _rec[1:3]
add("py/recursion-short", "python", exc_event(exc("RecursionError", "maximum recursion depth exceeded", _rec2)))

# synthetic mechanism: type is ignored
add("py/synthetic-mechanism", "python", exc_event(
    exc("Exception", "signal 11", py_stack(1, 2), mechanism={"type": "signal", "synthetic": True})))

# frames without function / module / filename
add("py/frames-sparse", "python", exc_event(exc("RuntimeError", "boom", [
    {"filename": "myapp/a.py", "lineno": 3, "in_app": True},
    {"module": "myapp.b", "lineno": 4, "in_app": True},
    {"function": "<lambda>", "lineno": 5, "in_app": True},
    {"function": "<module>", "filename": "manage.py", "abs_path": "/srv/app/manage.py", "in_app": True,
     "context_line": "execute_from_command_line(sys.argv)"},
])))

# lambdas / generated function names
add("py/lambda-and-genexpr", "python", exc_event(exc("TypeError", "'int' object is not iterable", [
    py_frame(("myapp.views", "<lambda>", "myapp/views.py", "key=lambda o: o.total"), True),
    py_frame(("myapp.views", "<genexpr>", "myapp/views.py", "sum(x for x in items)"), True),
    py_frame(("myapp.views", "<listcomp>", "myapp/views.py", "[f(x) for x in xs]"), True),
])))

# top-level stacktrace on a python event (captureMessage with attach_stacktrace)
add("py/top-level-stacktrace", "python", {
    "message": "Something went wrong in checkout",
    "stacktrace": {"frames": py_stack(1, 2)},
})

# ------------------------------------------------------------------------------------------------
# JavaScript (browser)
# ------------------------------------------------------------------------------------------------
JS_HOSTS = ["https://app.example.com", "https://www.shop.example.org", "http://localhost:3000"]
JS_FILES = ["/static/js/main.3f2a1b9c.js", "/static/js/vendor.8d7e6f.chunk.js", "/assets/index-4c1d2e.js",
            "/js/app.min.js", "/bundle.js"]
JS_FUNCS = ["a", "t", "n.r", "e.exports.render", "Object.onClick", "HTMLButtonElement.<anonymous>",
            "?", "<anonymous>", "new Promise", "Array.forEach", "r.dispatch", "Module.handleSubmit",
            "async fetchUser", "Generator.next", "s", "Ui.componentDidMount", "callCallback",
            "invokeGuardedCallbackDev", "t.value", "Object.o [as next]"]
JS_SUFFIX = ["", "?v=123", "?v=456", "#main", "?cb=1689000000&x=1#frag", "?_=abc"]


def js_frame(in_app=None, func=None, file_=None, host=None, suffix=None, ctx=True, colno=True):
    host = host or rng.choice(JS_HOSTS)
    file_ = file_ or rng.choice(JS_FILES)
    suffix = rng.choice(JS_SUFFIX) if suffix is None else suffix
    f = {
        "abs_path": host + file_ + suffix,
        "filename": file_,
        "function": func if func is not None else rng.choice(JS_FUNCS),
        "lineno": rng.randint(1, 3),
    }
    if colno:
        f["colno"] = rng.randint(100, 90000)
    if in_app is not None:
        f["in_app"] = in_app
    if ctx:
        f["context_line"] = rng.choice([
            "{snip} return e.user.id}function o(e){var t=e.target;return t.value.trim()} {snip}",
            "    const user = await api.get(`/users/${id}`);",
            "      this.setState({ items: data.items.map(normalize) });",
            "throw new Error(\"Request failed with status \" + r.status)",
        ])
    return f


JS_ERRS = [
    ("TypeError", "Cannot read properties of undefined (reading 'id')"),
    ("TypeError", "e.map is not a function"),
    ("TypeError", "undefined is not an object (evaluating 'n.data.items')"),
    ("ReferenceError", "gtag is not defined"),
    ("SyntaxError", "Unexpected token '<', \"<!DOCTYPE \"... is not valid JSON"),
    ("Error", "Request failed with status code 500"),
    ("ChunkLoadError", "Loading chunk 723 failed.\n(error: https://app.example.com/static/js/723.1a2b.chunk.js)"),
    ("RangeError", "Maximum call stack size exceeded"),
    ("AxiosError", "Network Error"),
    ("Error", "Minified React error #418; visit https://reactjs.org/docs/error-decoder.html?invariant=418 for the full message"),
]

for i in range(24):
    t, v = JS_ERRS[i % len(JS_ERRS)]
    n = rng.randint(2, 7)
    mode = i % 3  # 0: explicit in_app mix, 1: no in_app at all, 2: all in_app True
    frames = []
    for k in range(n):
        ia = {0: rng.choice([True, False]), 1: None, 2: True}[mode]
        frames.append(js_frame(in_app=ia, ctx=(i % 4 != 3), colno=(i % 6 != 5)))
    mech = rng.choice([{"type": "onerror", "handled": False},
                       {"type": "onunhandledrejection", "handled": False},
                       {"type": "instrument", "handled": True, "data": {"function": "addEventListener"}},
                       {"type": "generic", "handled": True}])
    add("js/exc-%02d-%s" % (i, t.lower()), "javascript", exc_event(
        exc(t, v, frames, mechanism=mech),
        request={"url": rng.choice(JS_HOSTS) + "/checkout?step=2",
                 "headers": {"User-Agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
                                           "(KHTML, like Gecko) Chrome/114.0.0.0 Safari/537.36"}},
        sdk={"name": "sentry.javascript.react", "version": "7.57.0"},
        transaction=rng.choice(["/checkout", "/users/:id", None]) or "/",
    ))

# same frames, different query strings / hashes in abs_path -> same hash (filename from URL ignored)
_js_base = [js_frame(in_app=True, func="handleSubmit", file_="/static/js/main.js", host=JS_HOSTS[0], suffix=s,
                     ctx=False) for s in ("", "")]
_js_base[1]["function"] = "onClick"
for suffix, tag in (("?v=1", "a"), ("?v=2#x", "b")):
    fr = json.loads(json.dumps(_js_base))
    for f in fr:
        f["abs_path"] = JS_HOSTS[0] + "/static/js/main.js" + suffix
    add("js/query-string-differs@" + tag, "javascript", exc_event(exc("TypeError", "x is undefined", fr)))

# same frames, different colno/lineno (minified) -> same hash
for tag in "ab":
    fr = json.loads(json.dumps(_js_base))
    for f in fr:
        f["colno"] = rng.randint(1, 99999)
        f["lineno"] = rng.randint(1, 5)
    add("js/colno-differs@" + tag, "javascript", exc_event(exc("TypeError", "x is undefined", fr)))

# anonymous / native / eval frames (low quality frames)
add("js/anonymous-native-eval", "javascript", exc_event(exc("Error", "boom", [
    {"abs_path": "<anonymous>", "filename": "<anonymous>", "function": "eval", "in_app": True},
    {"abs_path": "[native code]", "filename": "[native code]", "function": "Array.map", "in_app": False},
    {"abs_path": "https://app.example.com/static/js/main.js", "filename": "/static/js/main.js",
     "function": "?", "lineno": 1, "colno": 1234, "in_app": True},
    {"abs_path": "https://app.example.com/static/js/main.js", "filename": "/static/js/main.js",
     "function": "Object.<anonymous>", "lineno": 1, "colno": 999, "in_app": True},
    {"abs_path": "https://app.example.com/static/js/main.js", "filename": "/static/js/main.js",
     "function": "eval at render (main.js:1:200), <anonymous>", "lineno": 1, "colno": 5, "in_app": True},
])))

# dotted function names: only the last segment is used
add("js/dotted-function@a", "javascript", exc_event(exc("Error", "boom", [
    {"abs_path": "https://app.example.com/app.js", "filename": "/app.js", "function": "Foo.bar.baz",
     "in_app": True, "lineno": 10, "colno": 3}])))
add("js/dotted-function@b", "javascript", exc_event(exc("Error", "boom", [
    {"abs_path": "https://app.example.com/app.js", "filename": "/app.js", "function": "Qux.baz",
     "in_app": True, "lineno": 11, "colno": 4}])))

# sourcemapped frames (data.sourcemap + context_line): function is dropped
for tag, fn in (("a", "handleClick"), ("b", "onButtonClick")):
    add("js/sourcemapped@" + tag, "javascript", exc_event(exc("TypeError", "cannot read 'id'", [
        {"abs_path": "webpack:///./src/components/Button.tsx", "filename": "./src/components/Button.tsx",
         "function": fn, "lineno": 42, "colno": 17, "in_app": True,
         "context_line": "    const id = props.user.id;",
         "data": {"sourcemap": "https://app.example.com/static/js/main.js.map"}},
        {"abs_path": "webpack:///./src/App.tsx", "filename": "./src/App.tsx",
         "function": "render", "lineno": 12, "colno": 9, "in_app": True,
         "context_line": "  return <Button user={user} />;",
         "data": {"sourcemap": "https://app.example.com/static/js/main.js.map"}},
    ])))

# "Script error." and non-Error promise rejection: no stack
add("js/script-error", "javascript", {"message": "Script error.",
                                       "exception": {"values": [{"type": "Error", "value": "Script error.",
                                                                 "mechanism": {"type": "onerror", "handled": False}}]}})
add("js/non-error-rejection", "javascript", exc_event(exc(
    "UnhandledRejection", "Non-Error promise rejection captured with value: undefined",
    mechanism={"type": "onunhandledrejection", "handled": False})))
add("js/non-error-object", "javascript", exc_event(exc(
    "Error", "Object captured as exception with keys: code, message, status",
    mechanism={"type": "generic", "handled": True, "synthetic": True}),
    extra={"__serialized__": {"code": 403, "message": "forbidden", "status": "error"}}))

# ChunkLoadError without stack (builtin JS fingerprinting in later Sentry versions)
add("js/chunk-load-error", "javascript", exc_event(exc("ChunkLoadError", "Loading chunk 42 failed.")))

# a frame with only a file name / only an URL
add("js/url-only-frames", "javascript", exc_event(exc("Error", "x", [
    {"abs_path": "https://cdn.example.net/lib/jquery-3.6.0.min.js", "lineno": 2, "colno": 31234},
    {"abs_path": "https://app.example.com/", "lineno": 88, "colno": 12, "function": "HTMLDocument.<anonymous>"},
    {"filename": "app:///main.js", "abs_path": "app:///main.js", "function": "init", "lineno": 5},
])))

# ------------------------------------------------------------------------------------------------
# Node
# ------------------------------------------------------------------------------------------------
NODE_LIB = [
    ("express.lib.router:layer", "Layer.handle [as handle_request]", "/app/node_modules/express/lib/router/layer.js"),
    ("express.lib.router:index", "next", "/app/node_modules/express/lib/router/index.js"),
    ("express.lib.router:route", "Route.dispatch", "/app/node_modules/express/lib/router/route.js"),
    ("pg.lib:client", "Client._handleErrorMessage", "/app/node_modules/pg/lib/client.js"),
    ("pg-protocol.dist:parser", "Parser.parse", "/app/node_modules/pg-protocol/dist/parser.js"),
    ("axios.lib.core:settle", "settle", "/app/node_modules/axios/lib/core/settle.js"),
    ("@nestjs.core.router:router-execution-context", "<anonymous>",
     "/app/node_modules/@nestjs/core/router/router-execution-context.js"),
    ("task_queues", "processTicksAndRejections", "node:internal/process/task_queues"),
    ("timers", "listOnTimeout", "node:internal/timers"),
    ("events", "EventEmitter.emit", "node:events"),
]
NODE_APP = [
    ("app.src.routes:users", "getUser", "/app/src/routes/users.js",
     "const user = await db.query('select * from users where id = $1', [req.params.id]);"),
    ("app.src.routes:orders", "createOrder", "/app/src/routes/orders.js",
     "if (!order.items.length) throw new ValidationError('empty order');"),
    ("app.src.services:payment", "charge", "/app/src/services/payment.js",
     "const res = await axios.post(PAYMENT_URL, body);"),
    ("app.src:server", "<anonymous>", "/app/src/server.js", "app.listen(PORT, () => log.info('up'));"),
    ("app.src.lib:cache", "Cache.get", "/app/src/lib/cache.js", "return JSON.parse(await this.redis.get(key));"),
]
NODE_ERRS = [
    ("Error", "connect ECONNREFUSED 127.0.0.1:5432"),
    ("error", "duplicate key value violates unique constraint \"users_email_key\""),
    ("TypeError", "Cannot read properties of null (reading 'email')"),
    ("ValidationError", "empty order"),
    ("AxiosError", "Request failed with status code 502"),
    ("SyntaxError", "Unexpected end of JSON input"),
]


def node_frame(spec, in_app, with_module=True, ctx=True):
    module, fn, path = spec[:3]
    f = {"filename": path, "abs_path": path, "function": fn,
         "lineno": rng.randint(1, 400), "colno": rng.randint(1, 80)}
    if in_app is not None:
        f["in_app"] = in_app
    if with_module:
        f["module"] = module
    if ctx and len(spec) > 3:
        f["context_line"] = "    " + spec[3]
    return f


for i in range(16):
    t, v = NODE_ERRS[i % len(NODE_ERRS)]
    flags = i % 4  # 0: explicit flags, 1: none (rely on node_modules rules), 2: no module, 3: explicit
    frames = [node_frame(s, None if flags == 1 else False, with_module=(flags != 2))
              for s in rng.sample(NODE_LIB, rng.randint(1, 4))]
    frames += [node_frame(s, None if flags == 1 else True, with_module=(flags != 2), ctx=(i % 5 != 0))
               for s in rng.sample(NODE_APP, rng.randint(0 if i % 7 == 0 else 1, 3))]
    add("node/exc-%02d-%s" % (i, t.lower()), "node", exc_event(
        exc(t, v, frames, mechanism=rng.choice([{"type": "onuncaughtexception", "handled": False},
                                                {"type": "generic", "handled": True}, None])),
        sdk={"name": "sentry.javascript.node", "version": "7.57.0"},
        server_name="api-%d" % rng.randint(1, 9),
    ))

# node_modules with in_app wrongly set to true by the SDK
add("node/node-modules-in-app-true", "node", exc_event(exc("Error", "x", [
    node_frame(NODE_LIB[0], True), node_frame(NODE_LIB[1], True), node_frame(NODE_APP[0], True)])))

# node chained errors (cause)
add("node/chained-cause", "node", exc_event(
    exc("Error", "connect ECONNREFUSED 10.1.2.3:6379", [node_frame(NODE_LIB[7], False)],
        mechanism={"type": "chained", "source": "cause", "exception_id": 1, "parent_id": 0}),
    exc("CacheError", "cache unavailable", [node_frame(NODE_APP[4], True), node_frame(NODE_APP[0], True)],
        mechanism={"type": "generic", "handled": True, "exception_id": 0}),
))

# ------------------------------------------------------------------------------------------------
# Java
# ------------------------------------------------------------------------------------------------
JAVA_LIB = [
    ("java.lang.Thread", "run", "Thread.java"),
    ("java.util.concurrent.ThreadPoolExecutor", "runWorker", "ThreadPoolExecutor.java"),
    ("java.util.concurrent.ThreadPoolExecutor$Worker", "run", "ThreadPoolExecutor.java"),
    ("org.springframework.web.servlet.FrameworkServlet", "processRequest", "FrameworkServlet.java"),
    ("org.springframework.web.servlet.DispatcherServlet", "doDispatch", "DispatcherServlet.java"),
    ("jdk.internal.reflect.GeneratedMethodAccessor123", "invoke", None),
    ("sun.reflect.GeneratedMethodAccessor57", "invoke", None),
    ("java.lang.reflect.Method", "invoke", "Method.java"),
    ("org.apache.catalina.core.ApplicationFilterChain", "internalDoFilter", "ApplicationFilterChain.java"),
    ("org.hibernate.internal.SessionImpl", "flush", "SessionImpl.java"),
    ("com.zaxxer.hikari.pool.HikariPool", "getConnection", "HikariPool.java"),
    ("kotlinx.coroutines.DispatchedTask", "run", "DispatchedTask.kt"),
]
JAVA_APP = [
    ("com.example.shop.OrderService", "placeOrder", "OrderService.java"),
    ("com.example.shop.OrderController", "create", "OrderController.java"),
    ("com.example.shop.OrderService$$EnhancerBySpringCGLIB$$a1b2c3d4", "placeOrder", "<generated>"),
    ("com.example.shop.PaymentClient", "lambda$charge$0", "PaymentClient.java"),
    ("com.example.shop.PaymentClient$$Lambda$1234/0x0000000800c0a440", "apply", None),
    ("com.example.shop.PaymentClient$$Lambda$987/1828757853", "apply", None),
    ("com.example.shop.Inventory$Reservation", "<init>", "Inventory.java"),
    ("com.example.shop.util.Json", "parse", "Json.java"),
    ("com.example.shop.CartRepository$$FastClassBySpringCGLIB$$6e0c1d2f", "invoke", "<generated>"),
    ("com.example.shop.ui.MainActivity", "onCreate", "MainActivity.kt"),
]
JAVA_ERRS = [
    ("NullPointerException", "Cannot invoke \"String.length()\" because \"s\" is null", "java.lang"),
    ("IllegalStateException", "Order 4711 is already paid", "java.lang"),
    ("SQLException", "Connection is not available, request timed out after 30000ms.", "java.sql"),
    ("IllegalArgumentException", "No enum constant com.example.shop.Status.UNKNOWN", "java.lang"),
    ("ArrayIndexOutOfBoundsException", "Index 5 out of bounds for length 5", "java.lang"),
    ("JsonParseException", "Unexpected character ('<' (code 60))", "com.fasterxml.jackson.core"),
    ("ConcurrentModificationException", None, "java.util"),
]


def java_frame(spec, in_app):
    module, fn, fname = spec
    f = {"module": module, "function": fn, "lineno": rng.randint(20, 2000)}
    if fname:
        f["filename"] = fname
    if in_app is not None:
        f["in_app"] = in_app
    return f


for i in range(18):
    t, v, m = JAVA_ERRS[i % len(JAVA_ERRS)]
    # Java SDK sends frames outermost first (oldest call first)
    lib = rng.sample(JAVA_LIB, rng.randint(2, 5))
    app = rng.sample(JAVA_APP, rng.randint(0 if i % 6 == 5 else 1, 4))
    flags = i % 3
    frames = [java_frame(s, False if flags != 1 else None) for s in lib]
    frames += [java_frame(s, True if flags != 1 else None) for s in app]
    values = [exc(t, v, frames, module=m,
                  mechanism={"type": "UncaughtExceptionHandler", "handled": False} if i % 2 else None)]
    if i % 4 == 3:
        t2, v2, m2 = JAVA_ERRS[(i + 2) % len(JAVA_ERRS)]
        values.insert(0, exc(t2, v2, [java_frame(s, True) for s in rng.sample(JAVA_APP, 2)], module=m2))
    add("java/exc-%02d-%s" % (i, t.lower()), "java" if i % 5 else "java",
        {"exception": {"values": values},
         "sdk": {"name": "sentry.java.spring-boot.jakarta", "version": "6.25.2"}})

# lambda class names differing only in the generated id -> same hash
for tag, lam in (("a", "com.example.shop.PaymentClient$$Lambda$1234/0x0000000800c0a440"),
                 ("b", "com.example.shop.PaymentClient$$Lambda$5678/0x0000000800d0b550")):
    add("java/lambda-id-differs@" + tag, "java", exc_event(exc(
        "IllegalStateException", "bad", [java_frame((lam, "apply", None), True),
                                          java_frame(JAVA_APP[0], True)], module="java.lang")))
for tag, cg in (("a", "com.example.shop.OrderService$$EnhancerBySpringCGLIB$$a1b2c3d4"),
                ("b", "com.example.shop.OrderService$$EnhancerBySpringCGLIB$$ffee0011")):
    add("java/cglib-id-differs@" + tag, "java", exc_event(exc(
        "IllegalStateException", "bad", [java_frame((cg, "placeOrder", "<generated>"), True),
                                          java_frame(JAVA_APP[0], True)], module="java.lang")))

# Android / kotlin
add("java/android-kotlin", "java", exc_event(exc(
    "RuntimeException", "Unable to start activity ComponentInfo{com.example.shop/com.example.shop.ui.MainActivity}",
    [java_frame(("android.app.ActivityThread", "main", "ActivityThread.java"), False),
     java_frame(("com.android.internal.os.ZygoteInit", "main", "ZygoteInit.java"), False),
     java_frame(("android.app.Activity", "performCreate", "Activity.java"), False),
     java_frame(JAVA_APP[9], True)], module="java.lang",
    mechanism={"type": "UncaughtExceptionHandler", "handled": False})))

# ------------------------------------------------------------------------------------------------
# Native (C/C++) and Cocoa
# ------------------------------------------------------------------------------------------------
NATIVE_APP_PKG = ["/opt/myapp/bin/myapp", "C:\\Program Files\\MyApp\\myapp.exe",
                  "/Applications/MyApp.app/Contents/MacOS/MyApp"]
NATIVE_SYS_PKG = ["/usr/lib/x86_64-linux-gnu/libc.so.6", "/usr/lib/x86_64-linux-gnu/libstdc++.so.6",
                  "C:\\Windows\\System32\\ntdll.dll", "C:\\Windows\\System32\\KERNEL32.DLL",
                  "/usr/lib/system/libsystem_kernel.dylib", "/usr/lib/system/libsystem_c.dylib"]
NATIVE_APP_FN = [
    "std::vector<int, std::allocator<int> >::push_back(int const&)",
    "MyApp::Renderer::draw(Frame*) const",
    "MyApp::Net::Client::onMessage(std::__1::basic_string<char, std::__1::char_traits<char>, "
    "std::__1::allocator<char> > const&)",
    "main",
    "MyApp::Worker::run()::{lambda()#1}::operator()() const",
    "void MyApp::Queue<MyApp::Job>::push<MyApp::Job&>(MyApp::Job&)",
    "`anonymous namespace'::parse_header",
    "MyApp::Config::load(char const*) [clone .cold]",
    "_ZN5MyApp8Renderer4drawEP5Frame",
    "MyApp::Db::query(MyApp::Db::Statement&&) &&",
    "operator new(unsigned long)",
    "MyApp::Cache<std::string, int>::~Cache()",
]
NATIVE_SYS_FN = ["__pthread_kill", "raise", "abort", "__GI_raise", "_sigtramp", "RtlUserThreadStart",
                 "BaseThreadInitThunk", "__libc_start_main", "start", "std::terminate()",
                 "__cxa_throw", "memcpy", "objc_msgSend", "_pthread_start"]


def native_frame(in_app, fn=None, pkg=None, with_fn=True, symbol=None):
    addr = rng.randint(0x100000, 0x7fffffffffff)
    f = {"instruction_addr": "0x%x" % addr,
         "package": pkg or rng.choice(NATIVE_APP_PKG if in_app else NATIVE_SYS_PKG)}
    if with_fn:
        f["function"] = fn or rng.choice(NATIVE_APP_FN if in_app else NATIVE_SYS_FN)
    if symbol:
        f["symbol"] = symbol
    if in_app is not None:
        f["in_app"] = in_app
    if rng.random() < 0.5:
        f["symbol_addr"] = "0x%x" % (addr - rng.randint(1, 400))
        f["image_addr"] = "0x%x" % (addr - rng.randint(0x1000, 0x90000))
    if in_app and rng.random() < 0.4:
        f["filename"] = rng.choice(["src/renderer.cpp", "src/net/client.cc", "include/myapp/queue.hpp"])
        f["abs_path"] = "/home/build/myapp/" + f["filename"]
        f["lineno"] = rng.randint(1, 700)
    return f


NATIVE_ERRS = [
    ("SIGSEGV", "Segfault", {"type": "signalhandler", "handled": False, "meta": {"signal": {"number": 11, "name": "SIGSEGV"}}}),
    ("SIGABRT", "Abort", {"type": "signalhandler", "handled": False, "meta": {"signal": {"number": 6, "name": "SIGABRT"}}}),
    ("EXCEPTION_ACCESS_VIOLATION_READ", "Fatal Error: EXCEPTION_ACCESS_VIOLATION_READ",
     {"type": "minidump", "handled": False, "synthetic": True}),
    ("std::out_of_range", "vector::_M_range_check: __n (which is 7) >= this->size() (which is 3)",
     {"type": "cpp_exception", "handled": False}),
    ("EXC_BAD_ACCESS", "KERN_INVALID_ADDRESS at 0x0000000000000010",
     {"type": "mach", "handled": False, "meta": {"mach_exception": {"exception": 1, "code": 1, "subcode": 16,
                                                                     "name": "EXC_BAD_ACCESS"},
                                                  "signal": {"number": 11, "code": 0, "name": "SIGSEGV"}}}),
]

for i in range(16):
    t, v, mech = NATIVE_ERRS[i % len(NATIVE_ERRS)]
    # native stacks are sent outermost first too
    frames = [native_frame(False) for _ in range(rng.randint(1, 3))]
    frames += [native_frame(True, with_fn=(i % 6 != 5)) for _ in range(rng.randint(0 if i % 5 == 4 else 1, 4))]
    frames += [native_frame(False) for _ in range(rng.randint(0, 2))]
    if i % 3 == 2:
        for f in frames:
            f.pop("in_app", None)
    add("native/exc-%02d-%s" % (i, t.lower().replace("::", "-")), "native",
        {"exception": {"values": [exc(t, v, frames, mechanism=mech)]},
         "sdk": {"name": "sentry.native", "version": "0.6.5"}})

# templates / symbol noise only: same function modulo template args / addresses -> compare hashes
# (explicit frames: no random filename/symbol_addr, so each pair differs only where intended)
for tag, fn in (("a", "MyApp::Cache<std::string, int>::get(std::string const&)"),
                ("b", "MyApp::Cache<std::string, long>::get(std::string const&)")):
    add("native/template-args-differ@" + tag, "native", exc_event(exc("SIGSEGV", "Segfault", [
        {"function": "main", "package": NATIVE_APP_PKG[0], "instruction_addr": "0x55d0c0a00010", "in_app": True},
        {"function": fn, "package": NATIVE_APP_PKG[0], "instruction_addr": "0x55d0c0a00020", "in_app": True}],
        mechanism=NATIVE_ERRS[0][2])))
for tag, fn in (("a", "MyApp::Db::query(MyApp::Db::Statement&&) &&"), ("b", "MyApp::Db::query(int, char const*)")):
    add("native/args-differ@" + tag, "native", exc_event(exc("SIGSEGV", "Segfault", [
        {"function": "main", "package": NATIVE_APP_PKG[0], "instruction_addr": "0x55d0c0a00010", "in_app": True},
        {"function": fn, "package": NATIVE_APP_PKG[0], "instruction_addr": "0x55d0c0a00020", "in_app": True}],
        mechanism=NATIVE_ERRS[0][2])))
for tag, addr, pkg in (("a", "0x55d0c0a01234", NATIVE_APP_PKG[0]), ("b", "0x55d0c0b05678", "/opt/myapp-2.0/bin/myapp")):
    fr = [{"function": "main", "package": pkg, "instruction_addr": "0x55d0c0a00010", "in_app": True},
          {"function": "MyApp::Renderer::draw(Frame*) const", "package": pkg, "instruction_addr": addr,
           "symbol_addr": addr, "in_app": True}]
    add("native/addr-differs@" + tag, "native", exc_event(exc("SIGSEGV", "Segfault", fr, mechanism=NATIVE_ERRS[0][2])))

# unsymbolicated frames: only addresses
add("native/unsymbolicated", "native", exc_event(exc("SIGSEGV", "Segfault", [
    {"instruction_addr": "0x7f0a1b2c3d4e", "package": NATIVE_APP_PKG[0], "in_app": True},
    {"instruction_addr": "0x7f0a1b2c0000", "package": NATIVE_APP_PKG[0], "in_app": True},
    {"instruction_addr": "0x7f0a00001234"},
], mechanism=NATIVE_ERRS[0][2])))

# raw_function / symbol present alongside function
add("native/raw-function-symbol", "native", exc_event(exc("SIGABRT", "Abort", [
    native_frame(True, fn="MyApp::Renderer::draw(Frame*) const", symbol="_ZNK5MyApp8Renderer4drawEP5Frame"),
    dict(native_frame(False, fn="abort"), raw_function="abort"),
], mechanism=NATIVE_ERRS[1][2])))

# C# / .NET
add("csharp/exc-nullref", "csharp", exc_event(exc(
    "NullReferenceException", "Object reference not set to an instance of an object.", [
        {"module": "System.Threading.Tasks.Task", "function": "ExecuteWithThreadLocal", "in_app": False,
         "package": "System.Private.CoreLib, Version=7.0.0.0"},
        {"module": "MyApp.Controllers.OrdersController", "function": "Create", "in_app": True,
         "filename": "OrdersController.cs", "lineno": 77, "package": "MyApp, Version=1.0.0.0"},
        {"module": "MyApp.Services.OrderService+<PlaceAsync>d__4", "function": "MoveNext", "in_app": True,
         "filename": "OrderService.cs", "lineno": 31},
    ], module="System")))

# Go
add("go/panic", "go", exc_event(exc("*errors.errorString", "runtime error: index out of range [3] with length 3", [
    {"module": "runtime", "function": "goexit", "filename": "asm_amd64.s",
     "abs_path": "/usr/local/go/src/runtime/asm_amd64.s", "lineno": 1598, "in_app": False},
    {"module": "net/http", "function": "(*conn).serve", "filename": "server.go",
     "abs_path": "/usr/local/go/src/net/http/server.go", "lineno": 2009, "in_app": False},
    {"module": "github.com/example/shop/handlers", "function": "(*Orders).Create", "filename": "orders.go",
     "abs_path": "/build/handlers/orders.go", "lineno": 88, "in_app": True,
     "context_line": "\titem := items[idx]"},
], mechanism={"type": "generic", "handled": False})))

# Ruby
add("ruby/no-method-error", "ruby", exc_event(exc("NoMethodError", "undefined method `name' for nil:NilClass", [
    {"filename": "actionpack (7.0.4) lib/action_controller/metal/basic_implicit_render.rb",
     "abs_path": "/usr/local/bundle/gems/actionpack-7.0.4/lib/action_controller/metal/basic_implicit_render.rb",
     "function": "send_action", "lineno": 6, "in_app": False},
    {"filename": "app/controllers/orders_controller.rb", "abs_path": "/app/app/controllers/orders_controller.rb",
     "function": "show", "lineno": 12, "in_app": True, "context_line": "    @name = @order.customer.name"},
    {"filename": "app/models/order.rb", "abs_path": "/app/app/models/order.rb",
     "function": "block in total", "lineno": 30, "in_app": True, "context_line": "    items.sum(&:price)"},
])))

# PHP
add("php/type-error", "php", exc_event(exc("TypeError", "App\\Service\\Cart::add(): Argument #1 ($item) must be of type App\\Entity\\Item, null given", [
    {"filename": "/var/www/vendor/symfony/http-kernel/HttpKernel.php", "abs_path": "/var/www/vendor/symfony/http-kernel/HttpKernel.php",
     "function": "Symfony\\Component\\HttpKernel\\HttpKernel::handleRaw", "lineno": 163, "in_app": False},
    {"filename": "/var/www/src/Controller/CartController.php", "abs_path": "/var/www/src/Controller/CartController.php",
     "function": "App\\Controller\\CartController::add", "lineno": 40, "in_app": True,
     "context_line": "        $this->cart->add($item);"},
    {"filename": "/var/www/src/Service/Cart.php", "abs_path": "/var/www/src/Service/Cart.php",
     "function": "{closure}", "lineno": 12, "in_app": True, "context_line": "    public function add(Item $item): void"},
])))

# Cocoa: NSError / mach exceptions
add("cocoa/nserror", "cocoa", exc_event(exc(
    "NSURLErrorDomain", "Code: -1009", [
        native_frame(False, fn="start", pkg="/usr/lib/dyld"),
        native_frame(True, fn="-[MYNetworkManager fetchWithCompletion:]",
                     pkg="/private/var/containers/Bundle/Application/ABC/MyApp.app/MyApp"),
        native_frame(True, fn="__38-[MYNetworkManager fetchWithCompletion:]_block_invoke",
                     pkg="/private/var/containers/Bundle/Application/ABC/MyApp.app/MyApp"),
    ], mechanism={"type": "NSError", "handled": True,
                  "meta": {"ns_error": {"code": -1009, "domain": "NSURLErrorDomain"}}})))
add("cocoa/nsexception", "cocoa", exc_event(exc(
    "NSInvalidArgumentException", "-[__NSCFNumber length]: unrecognized selector sent to instance 0xb000000000000022", [
        native_frame(False, fn="objc_exception_throw", pkg="/usr/lib/libobjc.A.dylib"),
        native_frame(False, fn="-[NSObject(NSObject) doesNotRecognizeSelector:]",
                     pkg="/System/Library/Frameworks/CoreFoundation.framework/CoreFoundation"),
        native_frame(True, fn="MyApp.ProfileViewController.viewDidLoad() -> ()",
                     pkg="/private/var/containers/Bundle/Application/ABC/MyApp.app/MyApp"),
        native_frame(True, fn="@objc MyApp.ProfileViewController.viewDidLoad() -> ()",
                     pkg="/private/var/containers/Bundle/Application/ABC/MyApp.app/MyApp"),
    ], mechanism={"type": "nsexception", "handled": False})))
add("cocoa/mach-no-in-app", "cocoa", exc_event(exc(
    "EXC_BAD_ACCESS", "Attempted to dereference null pointer.", [
        native_frame(None, fn="start", pkg="/usr/lib/dyld"),
        native_frame(None, fn="UIApplicationMain",
                     pkg="/System/Library/PrivateFrameworks/UIKitCore.framework/UIKitCore"),
        native_frame(None, fn="main", pkg="/private/var/containers/Bundle/Application/ABC/MyApp.app/MyApp"),
    ], mechanism=NATIVE_ERRS[4][2])))

# ------------------------------------------------------------------------------------------------
# Messages
# ------------------------------------------------------------------------------------------------
MESSAGES = [
    "Order 12345 failed",
    "Failed to connect to 192.168.1.15:5432 after 3 retries",
    "Failed to connect to 2001:db8::ff00:42:8329 port 443",
    "Job 3f2b6c1e-9d4a-4e7b-8a51-2c0d9e6f7a10 crashed",
    "Job 3F2B6C1E9D4A4E7B8A512C0D9E6F7A10 crashed",
    "User alice@example.com could not be found",
    "GET https://api.example.com/v1/users/42?expand=orders returned 503",
    "Request to api.internal.example.com timed out",
    "Memory address 0xdeadbeef is not mapped",
    "Commit 8f14e45fceea167a5a36dedd4bea2543 not found",
    "Commit da39a3ee5e6b4b0d3255bfef95601890afd80709 not found",
    "Backup started at 2023-07-14T12:00:00Z",
    "Backup started at 2023-07-14 12:00:00",
    "Backup started at Fri, 14 Jul 2023 12:00:00 GMT",
    "Processed batch in 12.5ms",
    "Processed batch in 350 seconds",
    "Temperature is -3.75 degrees",
    "Feature flag 'new_checkout' is true",
    "Invalid value \"abc\" for field 'quantity'",
    "traceparent 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01 rejected",
    "Queue depth 1048576 exceeds limit",
    "Something went wrong",
    "",
    "Line one of the log\nLine two of the log\nLine three is dropped",
    "\n\n  leading blank lines\n\nsecond non-empty line\nthird",
    "Cache miss for key user:1234:profile",
    "Took 3h 20m 15s to rebuild index",
    "Payment of $19.99 declined for card ending 4242",
    "Connection reset by peer (errno=104, fd=17)",
]
for i, m in enumerate(MESSAGES):
    add("msg/string-%02d" % i, rng.choice(["python", "javascript", "node", "other"]), {
        "message": m,
        "level": rng.choice(["info", "warning", "error"]),
        "logger": rng.choice(["root", "myapp.jobs", ""]),
    })

# pairs differing only in a number / id / ip / uuid
PAIRS = [
    ("number", "Order 12345 failed", "Order 67890 failed"),
    ("ip", "Failed to connect to 10.0.0.1 after retry", "Failed to connect to 172.16.254.3 after retry"),
    ("uuid", "Job 0b2c8f4a-1234-4d5e-9f00-aa11bb22cc33 crashed", "Job 9e8d7c6b-5a49-4837-a261-ffeeddccbbaa crashed"),
    ("email", "Welcome mail to bob@example.com bounced", "Welcome mail to carol@example.org bounced"),
    ("hex", "Bad pointer 0x7ffee3c1a2b0", "Bad pointer 0x0000000000000010"),
    ("float", "Ratio 0.75 out of range", "Ratio 12.5 out of range"),
    ("date", "Report for 2023-07-01 missing", "Report for 2024-01-31 missing"),
    ("word", "Unknown command start", "Unknown command stop"),  # different hashes expected
]
for kind, a, b in PAIRS:
    add("msg/pair-%s@a" % kind, "python", {"message": a})
    add("msg/pair-%s@b" % kind, "python", {"message": b})

# logentry with params (message template is what groups)
LOGENTRIES = [
    ("User %s logged in from %s", ["alice", "1.2.3.4"]),
    ("User %s logged in from %s", ["bob", "5.6.7.8"]),
    ("Processing %d items took %.2f seconds", [17, 2.5]),
    ("Processing %d items took %.2f seconds", [4000, 0.01]),
    ("Retrying {attempt}/{max} for {url}", {"attempt": 2, "max": 5, "url": "https://x.example/y"}),
    ("Order {} failed", ["12345"]),
    ("Order {} failed", ["99"]),
    ("Static log without params", []),
]
for i, (tmpl, params) in enumerate(LOGENTRIES):
    add("msg/logentry-%02d" % i, "python", {"logentry": {"message": tmpl, "params": params},
                                            "logger": "myapp.jobs", "level": "warning"})
# logentry with formatted only / with both
add("msg/logentry-formatted-only", "python", {"logentry": {"formatted": "User 42 logged out at 2023-07-14 12:00:00"}})
add("msg/logentry-both", "python", {"logentry": {"message": "User %s logged out", "params": ["42"],
                                                 "formatted": "User 42 logged out"}})
add("msg/logentry-both-differs", "python", {"logentry": {"message": "User %s logged out", "params": ["43"],
                                                         "formatted": "User 43 logged out"}})
add("msg/message-and-logentry", "python", {"message": "top-level message 1",
                                           "logentry": {"formatted": "logentry formatted 2"}})
add("msg/logentry-object-message", "javascript", {"logentry": {"message": "Non-string %s", "params": [{"a": 1}]}})
add("msg/very-long", "python", {"message": "x" * 5000 + " 123"})
add("msg/unicode", "python", {"message": "Ошибка оплаты заказа 123 — 支付失败 🚨"})
add("msg/with-exception-too", "python", {
    "message": "Unhandled error in worker 7",
    "exception": {"values": [exc("ValueError", "bad", py_stack(1, 1))]}})
add("msg/csp-like", "javascript", {"message": "Blocked 'script' from 'evil.example.com'",
                                   "logger": "csp"})

# ------------------------------------------------------------------------------------------------
# Threads (no exception)
# ------------------------------------------------------------------------------------------------
add("threads/single", "python", {"message": "Thread dump",
                                 "threads": {"values": [{"id": 1, "name": "MainThread", "current": True,
                                                         "stacktrace": {"frames": py_stack(1, 2)}}]}})
add("threads/crashed-among-many", "cocoa", {"threads": {"values": [
    {"id": 0, "name": "main", "current": False, "crashed": False,
     "stacktrace": {"frames": [native_frame(False, fn="mach_msg_trap"), native_frame(False, fn="CFRunLoopRun")]}},
    {"id": 7, "name": "worker", "current": True, "crashed": True,
     "stacktrace": {"frames": [native_frame(False, fn="_pthread_start"), native_frame(True),
                               native_frame(True)]}},
    {"id": 8, "name": "io", "stacktrace": {"frames": [native_frame(False, fn="kevent")]}},
]}})
add("threads/many-none-crashed", "java", {"message": "ANR", "threads": {"values": [
    {"id": 1, "name": "main", "stacktrace": {"frames": [java_frame(JAVA_LIB[0], False), java_frame(JAVA_APP[1], True)]}},
    {"id": 2, "name": "pool-1", "stacktrace": {"frames": [java_frame(JAVA_LIB[1], False)]}},
]}})
add("threads/current-only", "java", {"message": "ANR", "threads": {"values": [
    {"id": 1, "name": "main", "current": True,
     "stacktrace": {"frames": [java_frame(JAVA_LIB[0], False), java_frame(JAVA_APP[0], True)]}},
    {"id": 2, "name": "pool-1", "stacktrace": {"frames": [java_frame(JAVA_LIB[1], False)]}},
]}})
add("threads/crashed-no-stack", "native", {"message": "crash", "threads": {"values": [
    {"id": 1, "name": "main", "crashed": True},
    {"id": 2, "name": "bg", "stacktrace": {"frames": [native_frame(True)]}},
]}})
add("threads/single-native", "native", {"threads": {"values": [
    {"id": 1, "crashed": True, "current": True,
     "stacktrace": {"frames": [native_frame(False), native_frame(True), native_frame(True, fn="main")]}}]}})
add("threads/single-js", "javascript", {"message": "Long task detected", "threads": {"values": [
    {"id": 0, "current": True, "stacktrace": {"frames": [js_frame(True), js_frame(False)]}}]}})
add("threads/with-exception", "java", {
    "exception": {"values": [exc("IllegalStateException", "boom", [java_frame(JAVA_APP[0], True)],
                                 module="java.lang", thread_id=1)]},
    "threads": {"values": [{"id": 1, "name": "main", "crashed": True, "current": True,
                            "stacktrace": {"frames": [java_frame(JAVA_LIB[0], False)]}}]}})
add("threads/empty-values", "python", {"message": "x", "threads": {"values": []}})
add("threads/no-frames", "python", {"message": "y", "threads": {"values": [{"id": 1, "current": True,
                                                                                "stacktrace": {"frames": []}}]}})
for i in range(4):
    add("threads/python-%d" % i, "python", {"threads": {"values": [
        {"id": 10 + i, "name": "Thread-%d" % i, "current": True, "crashed": bool(i % 2),
         "stacktrace": {"frames": py_stack(rng.randint(1, 3), rng.randint(0, 2))}}]}})

# ------------------------------------------------------------------------------------------------
# Exceptions without stacktrace (type + value only)
# ------------------------------------------------------------------------------------------------
NOSTACK = [
    ("ValueError", "invalid literal for int() with base 10: '12a'"),
    ("ValueError", "invalid literal for int() with base 10: '99b'"),
    ("TimeoutError", "Operation timed out after 30000 ms"),
    ("TimeoutError", "Operation timed out after 5000 ms"),
    ("Error", "Request 3f2b6c1e-9d4a-4e7b-8a51-2c0d9e6f7a10 failed"),
    ("Error", "Request 0b2c8f4a-1234-4d5e-9f00-aa11bb22cc33 failed"),
    ("Error", ""),
    ("Error", None),
    (None, "only a value"),
    ("OnlyType", None),
    ("ConnectionError", "connect ECONNREFUSED 127.0.0.1:6379"),
    ("ConnectionError", "connect ECONNREFUSED 10.2.3.4:6379"),
    ("KeyError", "'missing_key'"),
    ("Error", "Line 1\nLine 2\nLine 3"),
]
for i, (t, v) in enumerate(NOSTACK):
    add("nostack/%02d" % i, rng.choice(["python", "javascript", "java", "other"]),
        exc_event(exc(t, v, module=("builtins" if i % 3 == 0 else None))))
add("nostack/empty-stacktrace", "python", exc_event(exc("ValueError", "x", [])))
add("nostack/type-module-differs@a", "python", exc_event(exc("Error", "boom", module="a.b")))
add("nostack/type-module-differs@b", "python", exc_event(exc("Error", "boom", module="c.d")))
add("nostack/number-in-value@a", "python", exc_event(exc("QuotaError", "quota 100 exceeded")))
add("nostack/number-in-value@b", "python", exc_event(exc("QuotaError", "quota 250 exceeded")))

# ------------------------------------------------------------------------------------------------
# Custom fingerprints
# ------------------------------------------------------------------------------------------------
_fp_exc = exc("ValueError", "invalid literal for int() with base 10: 'abc'",
              [py_frame(PY_LIB[1], False, lineno=10), py_frame(PY_APP[4], True, lineno=20)])


def fp_event(fp, **extra):
    ev = {"exception": {"values": [json.loads(json.dumps(_fp_exc))]},
          "transaction": "/api/orders/{id}", "level": "error", "logger": "myapp.billing",
          "tags": {"server_name": "web-1", "customer": "acme"}}
    if fp is not None:
        ev["fingerprint"] = fp
    ev.update(extra)
    return ev


FPS = [
    ("none", None),
    ("default-only", ["{{ default }}"]),
    ("default-plus-x", ["{{ default }}", "x"]),
    ("default-plus-y", ["{{ default }}", "y"]),
    ("type-function", ["{{ type }}", "{{ function }}"]),
    ("plain-string", ["my-fingerprint"]),
    ("plain-strings-2", ["billing", "parse-amount"]),
    ("transaction", ["{{ transaction }}"]),
    ("level", ["{{ level }}"]),
    ("logger", ["{{ logger }}"]),
    ("module", ["{{ module }}"]),
    ("package", ["{{ package }}"]),
    ("tags-server-name", ["{{ tags.server_name }}"]),
    ("tags-missing", ["{{ tags.does_not_exist }}"]),
    ("message-var", ["{{ message }}"]),
    ("error-type-value", ["{{ error.type }}", "{{ error.value }}"]),
    ("stack-function-module", ["{{ stack.function }}", "{{ stack.module }}"]),
    ("unknown-var", ["{{ bogus }}"]),
    ("no-space-default", ["{{default}}"]),
    ("default-uppercase", ["{{ DEFAULT }}"]),
    ("empty-list", []),
    ("numbers", [1, 2.5, "three"]),
    ("with-null", ["a", None, "b"]),
    ("empty-string", [""]),
    ("default-twice", ["{{ default }}", "{{ default }}"]),
    ("x-then-default", ["x", "{{ default }}"]),
]
for name, fp in FPS:
    add("fp/%s" % name, "python", fp_event(fp))
# fingerprints on message events
add("fp/msg-default-plus-x", "python", {"message": "Order 12345 failed", "fingerprint": ["{{ default }}", "x"]})
add("fp/msg-plain", "python", {"message": "Order 12345 failed", "fingerprint": ["orders"]})
add("fp/msg-level", "python", {"message": "Order 12345 failed", "level": "warning", "fingerprint": ["{{ level }}"]})
add("fp/msg-transaction-missing", "python", {"message": "Order 12345 failed", "fingerprint": ["{{ transaction }}"]})
add("fp/js-type-function", "javascript", {"exception": {"values": [exc("TypeError", "x", [
    js_frame(True, func="Object.onClick"), js_frame(True, func="n.handle")])]}, "fingerprint": ["{{ type }}", "{{ function }}"]})
add("fp/native-package-function", "native", {"exception": {"values": [exc("SIGSEGV", "Segfault", [
    native_frame(False), native_frame(True, fn="MyApp::Renderer::draw(Frame*) const", pkg=NATIVE_APP_PKG[0])],
    mechanism=NATIVE_ERRS[0][2])]}, "fingerprint": ["{{ package }}", "{{ function }}"]})

# ------------------------------------------------------------------------------------------------
# checksum
# ------------------------------------------------------------------------------------------------
add("checksum/md5", "python", {"message": "Order 12345 failed", "checksum": "8f14e45fceea167a5a36dedd4bea2543"})
add("checksum/md5-uppercase", "python", {"message": "Order 12345 failed", "checksum": "8F14E45FCEEA167A5A36DEDD4BEA2543"})
add("checksum/non-hex", "python", {"message": "Order 12345 failed", "checksum": "my-custom-checksum"})
add("checksum/sha1-length", "python", {"message": "m", "checksum": "da39a3ee5e6b4b0d3255bfef95601890afd80709"})
add("checksum/with-exception", "python", {"exception": {"values": [json.loads(json.dumps(_fp_exc))]},
                                          "checksum": "0123456789abcdef0123456789abcdef"})
add("checksum/with-fingerprint", "python", {"message": "m", "checksum": "0123456789abcdef0123456789abcdef",
                                            "fingerprint": ["custom"]})

# ------------------------------------------------------------------------------------------------
# Edge cases: empty / missing / odd fields
# ------------------------------------------------------------------------------------------------
add("edge/empty-event", "other", {})
add("edge/no-platform", None, {"message": "no platform given"})
add("edge/empty-exception-values", "python", {"exception": {"values": []}})
add("edge/exception-null-values", "python", {"exception": {"values": None}})
add("edge/exception-list-legacy", "python", {"exception": [{"type": "ValueError", "value": "legacy list form"}]})
add("edge/exception-single-object", "python", {"exception": {"type": "ValueError", "value": "single object"}})
add("edge/empty-exception-object", "python", exc_event({}))
add("edge/frames-empty-objects", "python", exc_event(exc("ValueError", "x", [{}, {}, {"in_app": True}])))
add("edge/frame-function-question", "javascript", exc_event(exc("Error", "x", [
    {"function": "?", "abs_path": "https://app.example.com/a.js", "filename": "/a.js", "in_app": True}])))
add("edge/frame-null-fields", "python", exc_event(exc("ValueError", "x", [
    {"function": None, "module": None, "filename": None, "context_line": None, "in_app": True, "lineno": 1},
    {"function": "real", "module": "m", "in_app": True}])))
add("edge/message-null", "python", {"message": None})
add("edge/message-whitespace", "python", {"message": "   \n\t  "})
add("edge/level-fatal-only", "python", {"level": "fatal"})
add("edge/platform-unknown", "brainfuck", {"message": "unknown platform"})
add("edge/logentry-empty", "python", {"logentry": {}})
add("edge/stacktrace-empty-frames", "python", {"stacktrace": {"frames": []}})
add("edge/very-long-stack", "python", exc_event(exc("RecursionError", "deep",
                                                   [py_frame(PY_APP[k % len(PY_APP)], True, lineno=k + 1)
                                                    for k in range(300)])))
add("edge/long-exception-type", "python", exc_event(exc("E" * 300, "v" * 3000)))
add("edge/exception-value-number", "python", exc_event({"type": "ValueError", "value": 12345}))
add("edge/in-app-string", "python", exc_event(exc("ValueError", "x", [
    {"function": "f", "module": "myapp.x", "in_app": "true"}])))
add("edge/tags-list-form", "python", {"message": "tags as pairs", "tags": [["server_name", "web-1"], ["k", "v"]]})
add("edge/timestamp-and-extra", "python", {"message": "with lots of extras", "timestamp": 1689336000.123,
                                          "environment": "production", "release": "myapp@1.2.3",
                                          "dist": "42", "server_name": "web-2",
                                          "user": {"id": "42", "email": "a@example.com", "ip_address": "1.2.3.4"},
                                          "contexts": {"os": {"name": "Linux", "version": "6.1"},
                                                       "runtime": {"name": "CPython", "version": "3.11.4"}},
                                          "breadcrumbs": {"values": [{"category": "http", "message": "GET /x",
                                                                      "timestamp": 1689335999.0}]},
                                          "extra": {"k": "v"}, "modules": {"django": "4.2.3"}})
add("edge/unicode-frames", "python", exc_event(exc("UnicodeDecodeError", "'utf-8' codec can't decode byte 0xff", [
    {"function": "läs_fil", "module": "min_app.filer", "filename": "min_app/filer.py", "in_app": True,
     "context_line": "    return öppna(sökväg).read()"}])))
add("edge/template-interface", "django", {"message": "TemplateSyntaxError", "template": {
    "filename": "orders/list.html", "abs_path": "/srv/app/templates/orders/list.html",
    "context_line": "{% for o in orders %}{{ o.totl }}", "lineno": 14}})
add("edge/csp-report-fields", "javascript", {"logentry": {"formatted": "Blocked 'inline' from 'self'"},
                                              "request": {"url": "https://app.example.com/"}})

# ------------------------------------------------------------------------------------------------
# Misc. mixed platform: top-level stacktrace without message, exception in other platform
# ------------------------------------------------------------------------------------------------
add("misc/top-level-stacktrace-only", "python", {"stacktrace": {"frames": py_stack(2, 1)}})
add("misc/top-level-stacktrace-js", "javascript", {"message": "log with stack",
                                                    "stacktrace": {"frames": [js_frame(True), js_frame(True)]}})
add("misc/platform-other-with-frames", "other", exc_event(exc("Error", "x", [
    {"function": "doIt", "filename": "x.lua", "lineno": 3, "in_app": True, "context_line": "error('x')"}])))
add("misc/frame-platform-override", "javascript", exc_event(exc("Error", "x", [
    {"function": "ffiCall", "platform": "native", "instruction_addr": "0x1000", "package": "/lib/libffi.so", "in_app": False},
    dict(js_frame(True, func="callNative"), platform="javascript")])))
add("misc/python-frames-on-js-event", "javascript", exc_event(exc("Error", "x", py_stack(1, 1))))


# ------------------------------------------------------------------------------------------------
# Enhancement rules (newstyle@2023-01-11 base): stacks aimed at specific built-in rules
# ------------------------------------------------------------------------------------------------
def nf(function, package, in_app=None, **extra):
    """A native frame with a deterministic address."""
    f = {"function": function, "package": package,
         "instruction_addr": "0x%x" % rng.randint(0x100000, 0x7fffffffffff)}
    if in_app is not None:
        f["in_app"] = in_app
    f.update(extra)
    return f


LIBC = "/usr/lib/x86_64-linux-gnu/libc.so.6"
LIBSTDCXX = "/usr/lib/x86_64-linux-gnu/libstdc++.so.6"
APPBIN = "/opt/myapp/bin/myapp"
SIGABRT = NATIVE_ERRS[1][2]
SIGSEGV = NATIVE_ERRS[0][2]

# Linux SIGABRT via an uncaught C++ exception (std:: frames, __cxa_throw border, abort/raise)
_linux_abort = [
    nf("_start", APPBIN), nf("__libc_start_main", LIBC), nf("main", APPBIN),
    nf("MyApp::Worker::run()", APPBIN), nf("MyApp::Queue<MyApp::Job>::pop()", APPBIN),
    nf("std::vector<int, std::allocator<int> >::_M_range_check(unsigned long) const", APPBIN),
    nf("std::__throw_out_of_range_fmt(char const*, ...)", LIBSTDCXX),
    nf("__cxa_throw", LIBSTDCXX), nf("std::terminate()", LIBSTDCXX),
    nf("abort", LIBC), nf("raise", LIBC), nf("__pthread_kill_implementation", LIBC),
]
for tag, frames in (("a", _linux_abort),
                    ("b", [dict(f, instruction_addr="0x%x" % (int(f["instruction_addr"], 16) + 0x40))
                           for f in _linux_abort])):
    add("enh/native-linux-cxa-throw@" + tag, "native",
        exc_event(exc("std::out_of_range", "vector::_M_range_check", frames, mechanism=SIGABRT)))
# same crash without in_app hints but with explicit in_app on app frames
add("enh/native-linux-cxa-throw-in-app", "native", exc_event(exc(
    "std::out_of_range", "vector::_M_range_check",
    [dict(f, in_app=True) if f["package"] == APPBIN else f for f in _linux_abort], mechanism=SIGABRT)))
# plain abort() from app code, no C++ exception
add("enh/native-linux-abort", "native", exc_event(exc("SIGABRT", "Abort", [
    nf("__libc_start_main", LIBC), nf("main", APPBIN, True), nf("MyApp::Config::load(char const*)", APPBIN, True),
    nf("__assert_fail", LIBC), nf("abort", LIBC), nf("raise", LIBC)], mechanism=SIGABRT)))
add("enh/native-assert-rtn", "cocoa", exc_event(exc("SIGABRT", "Abort", [
    nf("start", "/usr/lib/system/libdyld.dylib"),
    nf("main", "/Applications/MyApp.app/Contents/MacOS/MyApp"),
    nf("MyApp::Config::load(char const*)", "/Applications/MyApp.app/Contents/MacOS/MyApp"),
    nf("__assert_rtn", "/usr/lib/system/libsystem_c.dylib"),
    nf("abort", "/usr/lib/system/libsystem_c.dylib"),
    nf("__pthread_kill", "/usr/lib/system/libsystem_kernel.dylib")], mechanism=SIGABRT)))

# Windows access violation: thread bases, memcpy wedged between app frames
add("enh/native-windows-av", "native", exc_event(exc(
    "EXCEPTION_ACCESS_VIOLATION_READ", "Fatal Error: EXCEPTION_ACCESS_VIOLATION_READ", [
        nf("RtlUserThreadStart", "C:\\Windows\\System32\\ntdll.dll"),
        nf("BaseThreadInitThunk", "C:\\Windows\\System32\\KERNEL32.DLL"),
        nf("invoke_main", "C:\\Program Files\\MyApp\\myapp.exe"),
        nf("wWinMain", "C:\\Program Files\\MyApp\\myapp.exe"),
        nf("MyApp::App::run()", "C:\\Program Files\\MyApp\\myapp.exe", True),
        nf("MyApp::Renderer::draw(Frame*) const", "C:\\Program Files\\MyApp\\myapp.exe", True),
        nf("memcpy", "C:\\Windows\\System32\\VCRUNTIME140.dll"),
        nf("MyApp::Buffer::copy(void const*, unsigned long)", "C:\\Program Files\\MyApp\\myapp.exe", True),
        nf("_purecall", "C:\\Windows\\System32\\ucrtbase.dll"),
        nf("abort", "C:\\Windows\\System32\\ucrtbase.dll"),
    ], mechanism={"type": "minidump", "handled": False, "synthetic": True})))
add("enh/native-windows-forward-slash-package", "native", exc_event(exc(
    "EXCEPTION_ACCESS_VIOLATION_WRITE", "Fatal Error: EXCEPTION_ACCESS_VIOLATION_WRITE", [
        nf("RtlUserThreadStart", "C:/Windows/System32/ntdll.dll"),
        nf("MyApp::App::run()", "C:/Program Files/MyApp/myapp.exe"),
        nf("RtlpAllocateHeapInternal", "C:/Windows/System32/ntdll.dll"),
        nf("RtlFreeHeap", "C:/Windows/System32/ntdll.dll"),
    ], mechanism={"type": "minidump", "handled": False, "synthetic": True})))

# macOS app bundle (+app by package), signal handler frames (_sigtramp), lambdas, .cold.1, dtor
add("enh/native-macos-bundle", "native", exc_event(exc("EXC_BAD_ACCESS", "KERN_INVALID_ADDRESS at 0x10", [
    nf("start", "/usr/lib/system/libdyld.dylib"),
    nf("main", "/Applications/MyApp.app/Contents/MacOS/MyApp"),
    nf("MyApp::EventLoop::run()", "/Applications/MyApp.app/Contents/MacOS/MyApp"),
    nf("MyApp::EventLoop::run()::$_0::operator()() const", "/Applications/MyApp.app/Contents/MacOS/MyApp"),
    nf("<lambda_1>::operator()", "/Applications/MyApp.app/Contents/MacOS/MyApp"),
    nf("MyApp::Parser::parse(char const*) (.cold.1)", "/Applications/MyApp.app/Contents/MacOS/MyApp"),
    nf("MyApp::Parser::parse.cold.1", "/Applications/MyApp.app/Contents/MacOS/MyApp"),
    nf("MyApp::Node::~Node()", "/Applications/MyApp.app/Contents/MacOS/MyApp"),
    nf("_platform_memmove", "/usr/lib/system/libsystem_platform.dylib"),
], mechanism=NATIVE_ERRS[4][2])))
add("enh/native-sigtramp-handler", "native", exc_event(exc("SIGSEGV", "Segfault", [
    nf("main", "/Users/dev/build/MyApp"),
    nf("MyApp::crashy()", "/Users/dev/build/MyApp"),
    nf("_sigtramp", "/usr/lib/system/libsystem_platform.dylib"),
    nf("sentry__crash_handler", "/Users/dev/build/MyApp"),
    nf("crashpad::CrashpadClient::DumpWithoutCrash", "/Users/dev/build/MyApp"),
], mechanism=SIGSEGV)))

# Rust panic borders
add("enh/native-rust-panic", "native", exc_event(exc("panic", "called `Option::unwrap()` on a `None` value", [
    nf("main", "/opt/rustapp/bin/rustapp"),
    nf("std::rt::lang_start_internal", "/opt/rustapp/bin/rustapp"),
    nf("rustapp::main", "/opt/rustapp/bin/rustapp", True),
    nf("rustapp::config::load", "/opt/rustapp/bin/rustapp", True),
    nf("core::panicking::panic", "/opt/rustapp/bin/rustapp"),
    nf("core::panicking::panic_fmt", "/opt/rustapp/bin/rustapp"),
    nf("std::panicking::begin_panic", "/opt/rustapp/bin/rustapp"),
    nf("std::panicking::rust_panic_with_hook", "/opt/rustapp/bin/rustapp"),
    nf("__rust_start_panic", "/opt/rustapp/bin/rustapp"),
], mechanism={"type": "panic", "handled": False})))

# malloc / free / lock / load / gl categories
add("enh/native-malloc-free", "native", exc_event(exc("SIGSEGV", "Segfault", [
    nf("main", APPBIN, True), nf("MyApp::Cache::insert(int)", APPBIN, True),
    nf("operator new(unsigned long)", LIBSTDCXX), nf("malloc", LIBC), nf("malloc_base", LIBC),
    nf("_int_malloc", LIBC)], mechanism=SIGSEGV)))
add("enh/native-free", "native", exc_event(exc("SIGSEGV", "Segfault", [
    nf("main", APPBIN, True), nf("MyApp::Cache::~Cache()", APPBIN, True),
    nf("free", LIBC), nf("_int_free", LIBC)], mechanism=SIGSEGV)))
add("enh/native-lock-load", "native", exc_event(exc("SIGSEGV", "Segfault", [
    nf("main", APPBIN, True), nf("MyApp::Plugins::load()", APPBIN, True),
    nf("dlopen", "/usr/lib/x86_64-linux-gnu/libdl.so.2"),
    nf("pthread_mutex_lock", "/usr/lib/x86_64-linux-gnu/libpthread.so.0")], mechanism=SIGSEGV)))
add("enh/native-gl-driver", "native", exc_event(exc("EXC_BAD_ACCESS", "KERN_INVALID_ADDRESS at 0x0", [
    nf("main", "/Applications/MyApp.app/Contents/MacOS/MyApp"),
    nf("MyApp::Renderer::submit()", "/Applications/MyApp.app/Contents/MacOS/MyApp"),
    nf("glDrawArrays", "/System/Library/Frameworks/OpenGL.framework/Versions/A/OpenGL"),
    nf("gleDoDrawDispatchCore", "GLEngine"),
    nf("gldUpdateDispatch", "/System/Library/Extensions/AppleIntelKBLGraphicsGLDriver.bundle/Contents/MacOS/Driver"),
    nf("gldFlush", "/System/Library/Extensions/AppleIntelKBLGraphicsGLDriver.bundle/Contents/MacOS/Driver"),
], mechanism=NATIVE_ERRS[4][2])))
add("enh/native-breakpad", "native", exc_event(exc("SIGSEGV", "Segfault", [
    nf("main", APPBIN, True), nf("MyApp::crash()", APPBIN, True),
    nf("google_breakpad::ExceptionHandler::SignalHandler(int, siginfo_t*, void*)", APPBIN),
    nf("google_breakpad::ExceptionHandler::WriteMinidumpWithException(int, siginfo_t*)", APPBIN),
    nf("google_breakpad::MinidumpWriter::Dump()", APPBIN)], mechanism=SIGSEGV)))
add("enh/native-unknown-system-frames", "native", exc_event(exc("SIGSEGV", "Segfault", [
    nf("main", APPBIN, True), nf("MyApp::tick()", APPBIN, True),
    nf("<unknown>", "/usr/lib/x86_64-linux-gnu/libc.so.6"), nf("_dl_catch_error", "/lib64/ld-linux-x86-64.so.2"),
    nf("_INTERNAL_helper", APPBIN)], mechanism=SIGSEGV)))

# Cocoa: iOS bundle (+app), swift runtime frameworks (-app), Sentry/KSCrash frames (-app -group)
IOS_APP = "/private/var/containers/Bundle/Application/0A1B2C3D-4E5F/MyApp.app/MyApp"
IOS_FW = "/private/var/containers/Bundle/Application/0A1B2C3D-4E5F/MyApp.app/Frameworks/"
add("enh/cocoa-ios-swift", "cocoa", exc_event(exc("EXC_BREAKPOINT", "Fatal error: Index out of range", [
    nf("start", "/usr/lib/dyld"),
    nf("UIApplicationMain", "UIKitCore"),
    nf("-[UIApplication _run]", "UIKitCore"),
    nf("MyApp.AppDelegate.application(_:didFinishLaunchingWithOptions:)", IOS_APP),
    nf("closure #1 in MyApp.FeedViewController.viewDidLoad()", IOS_APP),
    nf("closure", IOS_APP),
    nf("Array.subscript.getter", IOS_FW + "libswiftCore.dylib"),
    nf("_assertionFailure(_:_:file:line:flags:)", IOS_FW + "libswiftCore.dylib"),
], mechanism={"type": "mach", "handled": False,
              "meta": {"mach_exception": {"exception": 6, "code": 1, "subcode": 0, "name": "EXC_BREAKPOINT"}}})))
add("enh/cocoa-sentry-frames", "cocoa", exc_event(exc("NSRangeException", "index 3 beyond bounds [0 .. 2]", [
    nf("main", IOS_APP),
    nf("-[MYFeed reload]", IOS_APP),
    nf("-[SentryClient captureException:]", IOS_FW + "Sentry.framework/Sentry"),
    nf("sentrycrashcm_handleException", IOS_FW + "Sentry.framework/Sentry"),
    nf("kscrash_reportUserException", IOS_FW + "KSCrash.framework/KSCrash"),
    nf("_NSRaiseError", "/System/Library/Frameworks/Foundation.framework/Foundation"),
    nf("objc_exception_throw", "/usr/lib/libobjc.A.dylib"),
], mechanism={"type": "nsexception", "handled": False})))
add("enh/cocoa-block-invoke", "cocoa", exc_event(exc("EXC_BAD_ACCESS", "KERN_INVALID_ADDRESS at 0x8", [
    nf("_pthread_wqthread", "/usr/lib/system/libsystem_pthread.dylib"),
    nf("_dispatch_worker_thread2", "/usr/lib/system/libdispatch.dylib"),
    nf("_dispatch_client_callout", "/usr/lib/system/libdispatch.dylib"),
    nf("__29-[MYSync start]_block_invoke", IOS_APP),
    nf("-[MYSync applyDelta:]", IOS_APP),
    nf("objc_msgSend", "/usr/lib/libobjc.A.dylib"),
], mechanism=NATIVE_ERRS[4][2])))

# Android ANR (mechanism ANR: invert-stacktrace) and Android thread bases / ui categories
_anr_frames = [
    java_frame(("com.android.internal.os.ZygoteInit", "main", "ZygoteInit.java"), False),
    java_frame(("android.app.ActivityThread", "main", "ActivityThread.java"), False),
    java_frame(("android.os.Looper", "loop", "Looper.java"), False),
    java_frame(("android.os.Handler", "dispatchMessage", "Handler.java"), False),
    java_frame(("android.view.View", "performClick", "View.java"), False),
    java_frame(("com.example.shop.ui.CartFragment", "onCheckoutClicked", "CartFragment.kt"), True),
    java_frame(("com.example.shop.data.CartRepository", "loadBlocking", "CartRepository.kt"), True),
    java_frame(("java.lang.Object", "wait", "Object.java"), False),
]
add("enh/android-anr", "java", exc_event(exc(
    "ApplicationNotResponding", "Application Not Responding for at least 5000 ms.", _anr_frames,
    module="io.sentry.android.core", mechanism={"type": "ANR", "handled": False})))
_anr_snapshot = exc("ApplicationNotResponding", "Application Not Responding for at least 5000 ms.",
                    module="io.sentry.android.core", mechanism={"type": "ANR", "handled": False})
_anr_snapshot["stacktrace"] = {"frames": json.loads(json.dumps(_anr_frames)), "snapshot": True}
add("enh/android-anr-snapshot", "java", exc_event(_anr_snapshot))
add("enh/android-not-anr", "java", exc_event(exc(
    "IllegalStateException", "Fragment not attached", json.loads(json.dumps(_anr_frames)),
    module="java.lang", mechanism={"type": "UncaughtExceptionHandler", "handled": False})))
add("enh/android-ndk", "native", exc_event(exc("SIGSEGV", "Segfault", [
    nf("art_quick_invoke_stub", "/apex/com.android.art/lib64/libart.so"),
    nf("art::jit::JitCompileTask::Run(art::Thread*)", "/apex/com.android.art/lib64/libart.so"),
    nf("Java_com_example_shop_Native_decode", "/data/app/~~abc==/com.example.shop-1/lib/arm64/libshop.so", True),
    nf("shop::decode(unsigned char const*, unsigned long)", "/data/app/~~abc==/com.example.shop-1/lib/arm64/libshop.so", True),
    nf("memcpy", "/apex/com.android.runtime/lib64/bionic/libc.so"),
], mechanism=SIGSEGV)))

# Java/Kotlin library frames that the SDK flagged in_app=true (rules turn them off)
add("enh/java-libs-in-app-true", "java", exc_event(exc("IllegalStateException", "boom", [
    java_frame(("kotlinx.coroutines.DispatchedTask", "run", "DispatchedTask.kt"), True),
    java_frame(("io.ktor.server.engine.DefaultEnginePipelineKt", "invokeSuspend", "DefaultEnginePipeline.kt"), True),
    java_frame(("io.netty.channel.AbstractChannelHandlerContext", "invokeChannelRead", None), True),
    java_frame(("io.opentelemetry.context.Context", "wrap", None), True),
    java_frame(("feign.SynchronousMethodHandler", "invoke", None), True),
    java_frame(("scala.concurrent.Future", "map", None), True),
    java_frame(("com.example.shop.Api", "handle", "Api.kt"), True),
], module="java.lang")))
add("enh/java-reflection-indirection", "java", exc_event(exc("InvocationTargetException", None, [
    java_frame(("java.util.concurrent.ThreadPoolExecutor", "runWorker", "ThreadPoolExecutor.java"), None),
    java_frame(("com.example.shop.Jobs", "runAll", "Jobs.java"), True),
    java_frame(("java.lang.reflect.Method", "invoke", "Method.java"), None),
    java_frame(("jdk.internal.reflect.DirectMethodHandleAccessor", "invoke", None), None),
    java_frame(("com.example.shop.Jobs", "cleanup", "Jobs.java"), True),
], module="java.lang.reflect")))

# JavaScript: CDN / transpiler / reportError / Dart rules
add("enh/js-cdn-frames", "javascript", exc_event(exc("TypeError", "Cannot read properties of null (reading 'x')", [
    {"abs_path": "https://app.example.com/static/js/main.js", "filename": "/static/js/main.js",
     "function": "render", "in_app": True, "lineno": 1, "colno": 10},
    {"abs_path": "https://unpkg.com/react-dom@18.2.0/umd/react-dom.production.min.js",
     "filename": "/react-dom@18.2.0/umd/react-dom.production.min.js", "function": "Sc", "in_app": True,
     "lineno": 1, "colno": 300},
    {"abs_path": "https://cdnjs.cloudflare.com/ajax/libs/lodash.js/4.17.21/lodash.min.js",
     "filename": "/ajax/libs/lodash.js/4.17.21/lodash.min.js", "function": "Function.map", "in_app": True},
    {"abs_path": "https://cdn.jsdelivr.net/npm/axios/dist/axios.min.js", "filename": "/npm/axios/dist/axios.min.js",
     "function": "get", "in_app": True},
    {"abs_path": "https://esm.run/preact", "filename": "/preact", "function": "h", "in_app": True},
])))
add("enh/js-transpiler-modules", "javascript", exc_event(exc("Error", "async failure", [
    {"abs_path": "webpack:///./node_modules/@babel/runtime/helpers/asyncToGenerator.js",
     "filename": "./node_modules/@babel/runtime/helpers/asyncToGenerator.js",
     "module": "@babel/runtime/helpers/asyncToGenerator", "function": "asyncGeneratorStep", "in_app": True},
    {"abs_path": "webpack:///./node_modules/core-js/internals/task.js", "filename": "./node_modules/core-js/internals/task.js",
     "module": "core-js/internals/task", "function": "run", "in_app": True},
    {"abs_path": "webpack:///./node_modules/regenerator-runtime/runtime.js",
     "module": "regenerator-runtime/runtime", "function": "Generator.next", "in_app": True},
    {"abs_path": "webpack:///./node_modules/tslib/tslib.es6.js", "module": "tslib/tslib.es6",
     "function": "step", "in_app": True},
    {"abs_path": "webpack:///./src/api.ts", "filename": "./src/api.ts", "module": "src/api",
     "function": "loadUser", "in_app": True, "context_line": "  const res = await fetch(url);"},
])))
add("enh/js-report-error", "javascript", exc_event(exc("Error", "reported", [
    {"abs_path": "https://app.example.com/app.js", "filename": "/app.js", "function": "main", "in_app": True},
    {"abs_path": "https://app.example.com/app.js", "filename": "/app.js", "function": "doWork", "in_app": True},
    {"abs_path": "https://app.example.com/app.js", "filename": "/app.js", "function": "reportError", "in_app": True},
])))
add("enh/js-dart-flutter", "javascript", exc_event(exc("StateError", "Bad state: No element", [
    {"abs_path": "org-dartlang-sdk:///dart-sdk/lib/_internal/js_runtime/lib/js_helper.dart",
     "filename": "js_helper.dart", "function": "throwExpression", "in_app": True},
    {"abs_path": "packages/flutter/src/widgets/framework.dart", "module": "packages/flutter/src/widgets/framework",
     "filename": "framework.dart", "function": "StatelessElement.build", "in_app": True},
    {"abs_path": "packages/myapp/home.dart", "filename": "home.dart", "function": "HomePage.build", "in_app": True},
])))
add("enh/node-microtasks", "node", exc_event(exc("Error", "async boom", [
    {"filename": "node:internal/process/task_queues", "abs_path": "node:internal/process/task_queues",
     "function": "processTicksAndRejections", "module": "task_queues", "in_app": True},
    {"filename": "node:internal/process/task_queues", "abs_path": "node:internal/process/task_queues",
     "function": "runMicrotasks", "in_app": True},
    {"filename": "node:internal/process/next_tick", "function": "nextTick", "in_app": True},
    {"filename": "/app/src/jobs.js", "abs_path": "/app/src/jobs.js", "function": "runJob",
     "module": "app.src:jobs", "in_app": True, "context_line": "  await job.execute();"},
])))
add("enh/node-newrelic", "node", exc_event(exc("Error", "traced boom", [
    {"filename": "/app/node_modules/newrelic/lib/shim/shim.js", "abs_path": "/app/node_modules/newrelic/lib/shim/shim.js",
     "module": "newrelic.lib.shim:shim", "function": "wrapped", "in_app": False},
    {"filename": "/app/lib/newrelic-hooks/index.js", "abs_path": "/app/lib/newrelic-hooks/index.js",
     "module": "newrelic", "function": "hook", "in_app": True},
    {"filename": "/app/src/LogRocket/wrap.js", "abs_path": "/app/src/LogRocket/wrap.js",
     "function": "lrWrap", "in_app": True},
    {"filename": "/app/src/server.js", "abs_path": "/app/src/server.js", "module": "app.src:server",
     "function": "handle", "in_app": True, "context_line": "  return route(req, res);"},
])))

# Python: dist-packages / vendor / site-packages frames flagged in_app by the SDK
add("enh/python-path-rules", "python", exc_event(exc("ValueError", "bad", [
    {"filename": "requests/sessions.py", "abs_path": "/usr/lib/python3/dist-packages/requests/sessions.py",
     "module": "requests.sessions", "function": "send", "in_app": True, "context_line": "r = adapter.send(request)"},
    {"filename": "vendor/legacy.py", "abs_path": "/srv/app/vendor/legacy.py", "module": "vendor.legacy",
     "function": "call", "in_app": True, "context_line": "return fn()"},
    {"filename": "django/core/handlers/base.py", "abs_path": PY_SITE + "django/core/handlers/base.py",
     "module": "django.core.handlers.base", "function": "_get_response", "in_app": True,
     "context_line": "response = wrapped_callback(request)"},
    {"filename": "myapp/views.py", "abs_path": "/srv/app/myapp/views.py", "module": "myapp.views",
     "function": "index", "in_app": True, "context_line": "return render(request, 'x.html')"},
])))
add("enh/python-path-rules-no-in-app", "python", exc_event(exc("ValueError", "bad", [
    {"filename": "requests/sessions.py", "abs_path": "/usr/lib/python3/dist-packages/requests/sessions.py",
     "module": "requests.sessions", "function": "send", "context_line": "r = adapter.send(request)"},
    {"filename": "myapp/views.py", "abs_path": "/srv/app/myapp/views.py", "module": "myapp.views",
     "function": "index", "context_line": "return render(request, 'x.html')"},
])))
# Go module cache path rule
add("enh/go-pkg-mod", "go", exc_event(exc("*errors.errorString", "sql: no rows in result set", [
    {"module": "github.com/gin-gonic/gin", "function": "(*Context).Next",
     "abs_path": "/root/go/pkg/mod/github.com/gin-gonic/gin@v1.9.1/context.go", "filename": "context.go",
     "in_app": True, "context_line": "\t\tc.handlers[c.index](c)"},
    {"module": "github.com/example/shop/handlers", "function": "GetOrder", "abs_path": "/build/handlers/orders.go",
     "filename": "orders.go", "in_app": True, "context_line": "\t\treturn err"},
])))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    default_out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "grouping",
                               "corpus.json")
    ap.add_argument("--out", default=os.path.normpath(default_out))
    args = ap.parse_args()
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as fh:
        json.dump(CORPUS, fh, indent=1, sort_keys=True, ensure_ascii=False)
        fh.write("\n")
    print("wrote %d events to %s" % (len(CORPUS), args.out))


if __name__ == "__main__":
    main()
