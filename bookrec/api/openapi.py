"""The OpenAPI schema of bookrec's endpoints, and its docs page, whatever the site's settings.

bookrec's views carry ``BookrecAutoSchema`` themselves, so a site needs no
``REST_FRAMEWORK["DEFAULT_SCHEMA_CLASS"]``; ``SchemaView`` and ``DocsView`` (``schema/`` and
``docs/`` in ``bookrec.urls``) describe bookrec's endpoints alone, at the paths the site mounted
them under. A site's own drf-spectacular schema documents them too.
"""

from drf_spectacular.generators import EndpointEnumerator, SchemaGenerator
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from bookrec.registry import installed_registrations

MODEL_PARAMETER = "model"


def registered_labels():
    """``app_label.modelname`` of every registered model that is installed."""
    return [registration.model_label for registration in installed_registrations()]


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

    def get_filter_backends(self):
        return self.ask_view("filter_backends", super().get_filter_backends)

    def get_request_serializer(self):
        return self.ask_view("request", super().get_request_serializer)

    def get_response_serializers(self):
        return self.ask_view("responses", super().get_response_serializers)


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
