"""The OpenAPI schema of bookrec's endpoints, and its docs page, whatever the site's settings.

bookrec's views carry ``BookrecAutoSchema`` themselves, so a site needs no
``REST_FRAMEWORK["DEFAULT_SCHEMA_CLASS"]``; ``SchemaView`` and ``DocsView`` (``schema/`` and
``docs/`` in ``bookrec.urls``) describe bookrec's endpoints alone, at the paths the site mounted
them under. A site's own drf-spectacular schema documents them too.
"""

from django.core.validators import ProhibitNullCharactersValidator, RegexValidator
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.generators import EndpointEnumerator, SchemaGenerator
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework import serializers

from bookrec.api.serializers import KnownFieldsOnly
from bookrec.registry import installed_registrations
from bookrec.rerank import reranking_enabled

MODEL_PARAMETER = "model"


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()


# The errors every operation may answer with, and when (``BookrecAutoSchema.error_responses``).
INVALID = OpenApiResponse(
    OpenApiTypes.OBJECT, description="A parameter or field is wrong: each by name with what is wrong, or `detail`."
)
ERRORS = {
    401: "Credentials were given and are wrong (or a login is needed and none was given).",
    403: "Not allowed: the site's policy, or the model permission a write needs.",
    404: "No such object, page or registered model.",
    413: "The body is larger than the site's DATA_UPLOAD_MAX_MEMORY_SIZE.",
    415: "The body is not JSON.",
    429: "Throttled (the site's throttles, its login throttle, or bookrec's on embedding calls): try again after `Retry-After` seconds.",
    503: "The database cannot be reached just now: try again after `Retry-After` seconds.",
}
WRITES = {"POST", "PUT", "PATCH"}
# What Django's and DRF's CharFields refuse of every value (ProhibitNullCharactersValidator);
# "+": a blank value is the field's own business, said apart.
NO_NUL_PATTERN = "^[^\\u0000]+$"
# A filter's form field bounds, as the OpenAPI keywords that say them.
FORM_FIELD_BOUNDS = {"min_value": "minimum", "max_value": "maximum", "min_length": "minLength", "max_length": "maxLength"}


def registered_labels():
    """``app_label.modelname`` of every registered model that is installed."""
    return [registration.model_label for registration in installed_registrations()]


def refuses_only_nul(field):
    """Whether a (form or serializer) field's only rule on characters is Django's NUL check
    (a pattern of its own, which the schema states, refuses NUL too)."""
    kinds = {type(validator) for validator in field.validators}
    return ProhibitNullCharactersValidator in kinds and not any(issubclass(kind, RegexValidator) for kind in kinds)


class BookrecAutoSchema(AutoSchema):
    """drf-spectacular's AutoSchema, asking the view (where it says) for what depends on the
    model it serves (``documented_summary``, ``documented_parameters``,
    ``documented_filter_backends``, ``documented_request``, ``documented_responses``), and
    naming the registered models a ``{model}`` path takes."""

    def ask_view(self, name, otherwise):
        hook = getattr(self.view, f"documented_{name}", None)
        return hook() if hook else otherwise()

    def get_summary(self):
        return self.ask_view("summary", super().get_summary)

    def get_override_parameters(self):
        parameters = [*super().get_override_parameters(), *self.ask_view("parameters", list)]
        if "{%s}" % MODEL_PARAMETER in self.path:
            parameters = [*parameters, OpenApiParameter(
                MODEL_PARAMETER, OpenApiTypes.STR, OpenApiParameter.PATH, enum=registered_labels(),
                description="A model registered in BOOKREC['MODELS'], as app_label.modelname.",
            )]
        return parameters

    def _get_parameters(self):
        """drf-spectacular's, saying what ``check_query_params`` enforces: a query parameter
        given blank is a 400."""
        parameters = super()._get_parameters()
        for parameter in parameters:
            schema = parameter.get("schema", {})
            if parameter["in"] == "query" and schema.get("type") == "string" and "enum" not in schema:
                schema.setdefault("minLength", 1)
        return parameters

    def _get_filter_parameters(self):
        """drf-spectacular's, with the bounds each filter's form field enforces (its django-filter
        support gives the type only: a year the column cannot hold would look valid)."""
        parameters = super()._get_filter_parameters()
        filters = self.view.filterset_class.base_filters if parameters else {}
        for parameter in parameters:
            form_field = filters[parameter["name"]].field if parameter["name"] in filters else None
            for attribute, keyword in FORM_FIELD_BOUNDS.items():
                if getattr(form_field, attribute, None) is not None:
                    parameter["schema"].setdefault(keyword, getattr(form_field, attribute))
            if form_field is not None and refuses_only_nul(form_field):
                parameter["schema"].setdefault("pattern", NO_NUL_PATTERN)
        return parameters

    def _insert_field_validators(self, field, schema):
        """drf-spectacular's, also saying that a string field refuses NUL (which it leaves out)."""
        if schema.get("type") == "string" and "pattern" not in schema and refuses_only_nul(field):
            schema["pattern"] = NO_NUL_PATTERN
        super()._insert_field_validators(field, schema)

    def _map_basic_serializer(self, serializer, direction):
        """drf-spectacular's, saying that a serializer refusing unknown names refuses them."""
        schema = super()._map_basic_serializer(serializer, direction)
        serializer_class = serializer if isinstance(serializer, type) else type(serializer)
        if issubclass(serializer_class, KnownFieldsOnly):
            schema["additionalProperties"] = False
        return schema

    def get_filter_backends(self):
        return self.ask_view("filter_backends", super().get_filter_backends)

    def get_request_serializer(self):
        return self.ask_view("request", super().get_request_serializer)

    def get_response_serializers(self):
        responses = self.ask_view("responses", lambda: None)  # None: drf-spectacular's default
        if responses is None:
            responses = super().get_response_serializers()
        if not isinstance(responses, dict):  # drf-spectacular's default: one success response
            responses = {204: None} if self.method == "DELETE" else {201 if self._is_create_operation() else 200: responses}
        return {**self.error_responses(), **responses}

    def error_responses(self):
        """The 4xx and 5xx this operation may answer with (the view's own documented ones win)."""
        # 429 everywhere: a site's authentication may throttle too (the example site's does).
        codes = [401, 403, 429, 503]
        if "{" in self.path or getattr(self.view, "action", None) == "list":  # an id, a model, a page
            codes.append(404)
        if self.method in WRITES:
            codes += [413, 415]
        return {400: INVALID, **{code: OpenApiResponse(ErrorSerializer, description=ERRORS[code]) for code in sorted(codes)}}

    def get_auth(self):
        """drf-spectacular's, without the anonymous option where the view requires a permission
        whatever the site's policy (writes need the model permissions)."""
        auth = super().get_auth()
        return [scheme for scheme in auth if scheme] if self.view.required_permission_classes() else auth


class RerankFieldExtension(OpenApiSerializerFieldExtension):
    """``rerank`` may be true only where a reranker is configured: the schema says which."""

    target_class = "bookrec.api.serializers.RerankField"

    def map_serializer_field(self, auto_schema, direction):
        schema = auto_schema._map_serializer_field(self.target, direction, bypass_extensions=True)
        return schema if reranking_enabled() else {**schema, "enum": [False, None]}


class BookrecEndpoints(EndpointEnumerator):
    """Only bookrec's endpoints (those documented by its AutoSchema), wherever the site's
    URLconf mounts them."""

    def should_include_endpoint(self, path, callback):
        return super().should_include_endpoint(path, callback) and isinstance(callback.cls.schema, BookrecAutoSchema)


class BookrecSchemaGenerator(SchemaGenerator):
    endpoint_inspector_cls = BookrecEndpoints


class SchemaView(SpectacularAPIView):
    """bookrec's OpenAPI schema (drf-spectacular's view, over bookrec's endpoints only)."""

    generator_class = BookrecSchemaGenerator
    schema = None  # not an endpoint of the API, in this schema or the site's own


class DocsView(SpectacularSwaggerView):
    """Swagger UI over ``SchemaView``, found in the namespace this view was mounted in."""

    schema = None

    def get(self, request, *args, **kwargs):
        self.url_name = f"{request.resolver_match.namespace}:schema"
        return super().get(request, *args, **kwargs)
