"""The service's routes: predict, the Open Inference Protocol (V2), health, metadata and metrics.

=====================================  =======================================================
``POST /predict``                      records, columns or one record -> predictions
``POST /v2/models/{name}/infer``       V2 inference (also ``/versions/{v}/infer``)
``POST /feedback``                     ``{"labels": [{"id": ..., "row": 0, "label": ...}]}``
                                       -> ``{"accepted": N}``; 404 unknown id, 409 labelled
                                       before, 422 wrong label type (every bad row named)
``GET  /v2/models/{name}[/ready]``     V2 model metadata and readiness
``GET  /v2``, ``/v2/health/live|ready``  V2 server metadata and health
``GET  /health/live``                  the process answers
``GET  /health/ready``                 the artifact is loaded, verified and compiled
``GET  /metadata``                     name, version, input schema, lineage, predictor
``GET  /metrics``                      Prometheus text format 0.0.4
=====================================  =======================================================

V2 inference also speaks the binary tensor data extension (``Inference-Header-Content-Length``,
:mod:`mlopsctl.serve.binary`), listed in ``GET /v2``'s ``extensions``; V2 features it does not
implement are refused by name.

Answers from a model carry its version in the body and in an ``X-Model-Version`` header (also
``X-Model-Role``). Every prediction answer carries an ``X-Request-Id``: the caller's, when it sent
a sane one (1 to 128 of ``A-Za-z0-9._:-``; anything else is a 400 naming the header), else a new
one; the answer is written to the prediction log under it (:mod:`mlopsctl.serve.predlog`) and
labels sent to ``/feedback`` join to it (:mod:`mlopsctl.serve.feedback`). Bad input is a 4xx
with a JSON body naming the field and row; only a model that raises on valid input gives a 500
(counted in ``mlops_prediction_errors_total``).
Batches larger than ``OFFLOAD_ROWS`` are predicted on a worker thread so health checks and
small requests keep flowing meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlopsctl import __version__
from mlopsctl.contract.batch import Batch, Prediction, is_numeric_type
from mlopsctl.serve import binary, metrics
from mlopsctl.serve.feedback import FeedbackRefused
from mlopsctl.serve.followups import Followup, Followups, Parse, needs_followup
from mlopsctl.serve.httpserver import Application, Limits, Request, Response, Result, error_response
from mlopsctl.serve.inputs import RequestError, parse_json
from mlopsctl.serve.predlog import REQUEST_ID_HEADER, caller_id
from mlopsctl.serve.service import PredictionFailed, ServedModel, Service

log = logging.getLogger("mlopsctl.serve")

OFFLOAD_ROWS = 2000
V2_MODEL = re.compile(r"^/v2/models/(?P<name>[^/]+)(?:/versions/(?P<version>[^/]+))?(?:/(?P<action>infer|ready))?$")
OTHER_ROUTE = "other"
READY, LOADING, FAILED, DRAINING = "ready", "loading", "failed", "draining"

Answer = tuple[Response, ServedModel | None]
Answered = tuple[Batch, Prediction]
"""The rows a version answered and its answer."""
Read = Callable[[Request], Any]
Render = Callable[[ServedModel, Batch, Prediction, Any], Response]


@dataclass(frozen=True)
class Route:
    label: str
    methods: dict[str, Callable[[Request, dict[str, str]], Answer | Any]]


class ServiceApp(Application):
    """Routes requests to the service; counts every answer in the answering version's metrics."""

    def __init__(self, limits: Limits, service: Service | None = None) -> None:
        super().__init__(limits)
        self.service = service
        self.state = READY if service is not None else LOADING
        self.failure: str | None = None
        self._executor: ThreadPoolExecutor | None = None
        self.followups = Followups()
        """Shadow and canary work waiting for the loop's next turn, after the answers are sent."""
        self.exact: dict[str, Route] = {
            "/predict": Route("/predict", {"POST": self.predict}),
            "/feedback": Route("/feedback", {"POST": self.feedback}),
            "/health/live": Route("/health/live", {"GET": self.live}),
            "/health/ready": Route("/health/ready", {"GET": self.ready}),
            "/metadata": Route("/metadata", {"GET": self.metadata}),
            "/metrics": Route("/metrics", {"GET": self.metrics}),
            "/": Route("/", {"GET": self.index}),
            "/v2": Route("/v2", {"GET": self.v2_server}),
            "/v2/health/live": Route("/v2/health/live", {"GET": self.live}),
            "/v2/health/ready": Route("/v2/health/ready", {"GET": self.ready}),
        }
        self.v2 = {
            None: Route("/v2/models/{name}", {"GET": self.v2_model}),
            "ready": Route("/v2/models/{name}/ready", {"GET": self.v2_model_ready}),
            "infer": Route("/v2/models/{name}/infer", {"POST": self.v2_infer}),
        }

    # --- life cycle -------------------------------------------------------------------------

    def serve(self, service: Service) -> None:
        self.service = service
        self.state = READY

    def fail(self, message: str) -> None:
        self.failure = message
        self.state = FAILED

    def drain(self) -> None:
        self.state = DRAINING

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True)
        self.followups.close()
        if self.service is not None:
            self.service.recorder.close()

    # --- dispatch ---------------------------------------------------------------------------

    def handle(self, request: Request) -> Result:
        started = time.perf_counter()
        route, params = self._match(request.path)
        if route is None:
            return self._count(error_response(404, f"no route {request.path}"), None, OTHER_ROUTE, started)
        method = "GET" if request.method == "HEAD" else request.method
        handler = route.methods.get(method)
        if handler is None:
            allowed = ", ".join(sorted({*route.methods, *(["HEAD"] if "GET" in route.methods else [])}))
            response = error_response(405, f"{request.method} is not allowed on {route.label}; use {allowed}")
            response.headers.append(("Allow", allowed))
            return self._count(response, None, route.label, started)
        answer = handler(request, params)
        if isinstance(answer, tuple):
            return self._count(answer[0], answer[1], route.label, started)
        return self._count_later(answer, route.label, started)

    def _match(self, path: str) -> tuple[Route | None, dict[str, str]]:
        route = self.exact.get(path)
        if route is not None:
            return route, {}
        found = V2_MODEL.match(path)
        if found is None:
            return None, {}
        return self.v2[found["action"]], {k: v for k, v in found.groupdict().items() if v is not None}

    def _count(self, response: Response, model: ServedModel | None, route: str, started: float) -> Response:
        served = model or (self.service.stable if self.service is not None else None)
        if served is not None:
            response.headers.append(("X-Model-Version", served.version))
            response.headers.append(("X-Model-Role", served.role))
            served.metrics.request(route, response.status, time.perf_counter() - started)
        return response

    async def _count_later(self, pending: Any, route: str, started: float) -> Response:
        response, model = await pending
        return self._count(response, model, route, started)

    def refused(self, status: int, path: str | None) -> None:
        if self.service is not None:
            route = self._match(path)[0] if path else None
            self.service.stable.metrics.refused(route.label if route is not None else OTHER_ROUTE, status)

    # --- health and metadata ----------------------------------------------------------------

    def live(self, request: Request, params: dict[str, str]) -> Answer:
        return Response.json(200, {"status": "live", "live": True}), None

    def ready(self, request: Request, params: dict[str, str]) -> Answer:
        if self.state == READY and self.service is not None:
            stable = self.service.stable
            body = {"status": READY, "ready": True, "model": stable.name, "version": stable.record.version}
            return Response.json(200, body), None
        body = {"status": self.state, "ready": False}
        if self.failure:
            body["error"] = self.failure
        return Response.json(503, body), None

    def metadata(self, request: Request, params: dict[str, str]) -> Answer:
        service = self._service()
        if isinstance(service, Response):
            return service, None
        document = service.stable.describe()
        document["candidate"] = service.candidate.describe() if service.candidate is not None else None
        document["strategy"] = service.strategy
        document["weight"] = service.weight if service.strategy == "canary" else None
        document["limits"] = {
            "max_body_bytes": self.limits.max_body_bytes,
            "max_batch_rows": service.stable.schema.max_rows,
        }
        return Response.json(200, document), None

    def metrics(self, request: Request, params: dict[str, str]) -> Answer:
        models = [m.metrics for m in self.service.models] if self.service is not None else []
        log = self.service.recorder.log if self.service is not None else None
        counts = metrics.LogCounts(log.written, log.dropped) if log is not None else None
        return Response(200, metrics.render(models, counts).encode(), content_type=metrics.CONTENT_TYPE), None

    def index(self, request: Request, params: dict[str, str]) -> Answer:
        routes = [*(f"{'/'.join(r.methods)} {r.label}" for r in self.exact.values())]
        routes += [f"{'/'.join(r.methods)} {r.label}" for r in self.v2.values()]
        model = self.service.stable.name if self.service is not None else None
        return Response.json(200, {"service": "mlopsctl", "model": model, "state": self.state, "routes": routes}), None

    def _service(self) -> Service | Response:
        if self.state == DRAINING and self.service is not None:
            return self.service
        if self.service is None or self.state != READY:
            reason = self.failure or "the model is still loading"
            return error_response(503, reason)
        return self.service

    # --- prediction -------------------------------------------------------------------------

    def predict(self, request: Request, params: dict[str, str]) -> Answer | Any:
        return self._predict(request, "/predict", None, (_read_predict, _parse_predict), _render_predict)

    def v2_infer(self, request: Request, params: dict[str, str]) -> Answer | Any:
        refused = self._v2_target(params)
        if isinstance(refused, Response):
            return refused, None
        return self._predict(request, "/v2/models/{name}/infer", refused, (binary.read_document, _parse_v2), _render_v2)

    def _predict(
        self, request: Request, route: str, fixed: ServedModel | None, steps: tuple[Read, Parse], render: Render
    ) -> Any:
        service = self._service()
        if isinstance(service, Response):
            return service, None
        request_id = self._request_id(request, service)
        if isinstance(request_id, Response):
            return request_id, None
        model = fixed or service.choose()
        read, parse = steps
        try:
            document = read(request)
            batch = parse(model, document)
            if batch.rows > OFFLOAD_ROWS:
                return self._predict_off_loop(service, model, batch, document, (route, request_id), parse, render)
            prediction = model.predict(batch)
        except RequestError as exc:
            return _tagged(Response.json(exc.status, exc.body()), request_id), model
        except PredictionFailed as exc:
            return _tagged(self._failed(model, exc), request_id), model
        service.recorder.record(request_id, model, batch, prediction)
        self._after_answer(service, model, (batch, prediction), document, (route, request_id), parse)
        return _tagged(render(model, batch, prediction, document), request_id), model

    @staticmethod
    def _request_id(request: Request, service: Service) -> str | Response:
        """The caller's ``X-Request-Id`` when sane, a new one when absent; a 400 naming the header."""
        try:
            given = caller_id(request.headers.get("x-request-id"))
        except ValueError as exc:
            return error_response(400, str(exc))
        return given if given is not None else service.recorder.ids.new()

    async def _predict_off_loop(
        self,
        service: Service,
        model: ServedModel,
        batch: Batch,
        document: Any,
        where: tuple[str, str],
        parse: Parse,
        render: Render,
    ) -> Answer:
        request_id = where[1]
        try:
            prediction = await asyncio.get_running_loop().run_in_executor(self._pool(), model.run, batch)
        except RequestError as exc:
            return _tagged(Response.json(exc.status, exc.body()), request_id), model
        except PredictionFailed as exc:
            return _tagged(self._failed(model, exc), request_id), model
        model.metrics.observe(batch, prediction)
        service.recorder.record(request_id, model, batch, prediction)
        self._after_answer(service, model, (batch, prediction), document, where, parse)
        return _tagged(render(model, batch, prediction, document), request_id), model

    # --- feedback ---------------------------------------------------------------------------

    def feedback(self, request: Request, params: dict[str, str]) -> Answer:
        service = self._service()
        if isinstance(service, Response):
            return service, None
        try:
            body = service.recorder.feedback(parse_json(request.body), service.stable.schema.max_rows)
        except RequestError as exc:
            return Response.json(exc.status, exc.body()), None
        except FeedbackRefused as exc:
            return Response.json(exc.status, exc.body), None
        except OSError as exc:  # the labels file cannot be written: nothing was acknowledged
            return error_response(503, f"cannot keep the labels: {exc.strerror or exc}"), None
        return Response.json(200, body), None

    def _pool(self) -> ThreadPoolExecutor:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mlops-predict")
        return self._executor

    @staticmethod
    def _failed(model: ServedModel, exc: PredictionFailed) -> Response:
        model.metrics.prediction_errors += 1
        return error_response(500, f"{model.name}@{model.version} failed to predict: {exc}")

    def _after_answer(
        self,
        service: Service,
        answered: ServedModel,
        answer: Answered,
        document: Any,
        where: tuple[str, str],
        parse: Parse,
    ) -> None:
        """Once the client's answer is on its way: the shadow predicts the same rows, or the stable
        version answers a canary's rows, and they are compared (:mod:`mlopsctl.serve.followups`)."""
        if needs_followup(service, answered):
            batch, prediction = answer
            self.followups.add(Followup(service, answered, batch, prediction, document, *where, parse))

    # --- Open Inference Protocol metadata ---------------------------------------------------

    def _v2_target(self, params: dict[str, str]) -> ServedModel | Response | None:
        service = self._service()
        if isinstance(service, Response):
            return service
        name = params.get("name")
        if name != service.stable.name:
            return error_response(
                404, f"model '{name}' is not served here; this service serves '{service.stable.name}'"
            )
        version = params.get("version")
        if version is None:
            return None
        found = service.version(version)
        if found is None:
            held = ", ".join(m.version for m in service.models)
            return error_response(404, f"version '{version}' of {name} is not served here; versions: {held}")
        return found

    def v2_server(self, request: Request, params: dict[str, str]) -> Answer:
        document = {"name": "mlopsctl", "version": __version__, "extensions": [binary.EXTENSION]}
        return Response.json(200, document), None

    def v2_model(self, request: Request, params: dict[str, str]) -> Answer:
        target = self._v2_target(params)
        if isinstance(target, Response):
            return target, None
        assert self.service is not None
        model = target or self.service.stable
        return Response.json(200, v2_metadata(model, self.service)), model

    def v2_model_ready(self, request: Request, params: dict[str, str]) -> Answer:
        target = self._v2_target(params)
        if isinstance(target, Response):
            return target, None
        assert self.service is not None
        model = target or self.service.stable
        return Response.json(200, {"name": model.name, "ready": True}), model


def _tagged(response: Response, request_id: str) -> Response:
    response.headers.append((REQUEST_ID_HEADER, request_id))
    return response


# --- request and response shapes --------------------------------------------------------------


def _read_predict(request: Request) -> Any:
    binary.refuse_encoding(request)
    if binary.HEADER in request.headers:
        raise RequestError.one(
            400,
            f"{binary.HEADER_NAME} (binary tensor data) is a V2 extension: send it to /v2/models/{{name}}/infer",
        )
    return parse_json(request.body)


def _parse_predict(model: ServedModel, document: Any) -> Batch:
    return model.schema.predict_batch(document)


def _parse_v2(model: ServedModel, document: Any) -> Batch:
    if not isinstance(document, dict):
        raise RequestError.one(422, "expected a JSON object with 'inputs'")
    if "inputs" not in document:
        raise RequestError.one(422, "missing 'inputs': a list of tensors with name, shape, datatype and data")
    binary.refuse_unsupported(document)
    _requested_outputs(model, document)
    return model.schema.v2_batch(document["inputs"])


def _render_predict(model: ServedModel, batch: Batch, prediction: Prediction, document: Any) -> Response:
    body: dict[str, Any] = {
        "model": model.name,
        "version": model.record.version,
        "role": model.role,
        "predictions": prediction.labels.tolist(),
    }
    if prediction.probabilities is not None:
        body["probabilities"] = prediction.probabilities.tolist()
        body["classes"] = model.classes
    return Response.json(200, body)


def _render_v2(model: ServedModel, batch: Batch, prediction: Prediction, document: Any) -> Response:
    arrays = [("predict", prediction.labels, [batch.rows])]
    if prediction.probabilities is not None:
        proba = prediction.probabilities
        arrays.append(("predict_proba", proba.reshape(-1), list(proba.shape)))
    wanted = {o["name"] for o in document.get("outputs") or []}
    if wanted:
        arrays = [a for a in arrays if a[0] in wanted]
    as_binary = binary.binary_outputs(document, [name for name, _, _ in arrays])
    outputs: list[dict[str, Any]] = []
    blobs: list[bytes] = []
    for name, values, shape in arrays:
        if name in as_binary:
            datatype = v2_datatype(values.dtype)
            blobs.append(binary.encode(values, datatype))
            outputs.append({"name": name, "shape": shape, "datatype": datatype})
            outputs[-1]["parameters"] = {"binary_data_size": len(blobs[-1])}
        else:
            outputs.append(_tensor(name, values, shape))
    body: dict[str, Any] = {"model_name": model.name, "model_version": model.version, "outputs": outputs}
    if isinstance(document.get("id"), str):
        body["id"] = document["id"]
    body["parameters"] = {"role": model.role}
    return binary.response(body, blobs) if blobs else Response.json(200, body)


def _tensor(name: str, values: np.ndarray[Any, Any], shape: list[int]) -> dict[str, Any]:
    return {"name": name, "shape": shape, "datatype": v2_datatype(values.dtype), "data": values.tolist()}


def _requested_outputs(model: ServedModel, document: dict[str, Any]) -> None:
    requested = document.get("outputs")
    if requested is None:
        return
    known = ["predict", "predict_proba"] if model.classes else ["predict"]
    if not isinstance(requested, list) or not all(
        isinstance(o, dict) and isinstance(o.get("name"), str) for o in requested
    ):
        raise RequestError.one(422, "'outputs' must be a list of objects with a name")
    for output in requested:
        if output["name"] not in known:
            raise RequestError.one(422, f"unknown output '{output['name']}'; outputs: {', '.join(known)}")


def v2_datatype(dtype: np.dtype[Any]) -> str:
    return {"b": "BOOL", "i": "INT64", "u": "UINT64", "f": "FP64"}.get(dtype.kind, "BYTES")


def v2_metadata(model: ServedModel, service: Service) -> dict[str, Any]:
    inputs = [
        {"name": c.name, "datatype": _input_datatype(c.type), "shape": [-1]} for c in model.record.signature.inputs
    ]
    classes = model.classes or []
    label_type = v2_datatype(np.asarray(classes).dtype) if classes else "FP64"
    outputs = [{"name": "predict", "datatype": label_type, "shape": [-1]}]
    if classes:
        outputs.append({"name": "predict_proba", "datatype": "FP64", "shape": [-1, len(classes)]})
    return {
        "name": model.name,
        "versions": [m.version for m in service.models],
        "platform": "scikit-learn",
        "inputs": inputs,
        "outputs": outputs,
    }


def _input_datatype(declared: str) -> str:
    if declared == "boolean":
        return "BOOL"
    if declared == "integer":
        return "INT64"
    return "FP64" if is_numeric_type(declared) else "BYTES"
