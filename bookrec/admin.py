"""The admin: ``RecommendationAdminMixin`` gives any registered model's ModelAdmin the embedding
state, the re-embed actions, the similar-objects panel and semantic search; ``BookAdmin`` is
bookrec's own Book with it.

A host adds it to its own admin::

    @admin.register(Article)
    class ArticleAdmin(RecommendationAdminMixin, admin.ModelAdmin):
        ...
"""

from django import forms
from django.contrib import admin, messages
from django.contrib.postgres.forms import SimpleArrayField
from django.core.exceptions import PermissionDenied
from django.db.models import Count, F, Func
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from bookrec import indexing, recommend, recommendations, tasks
from bookrec.catalogue import EARLIEST_YEAR, latest_year
from bookrec.conf import bookrec_settings
from bookrec.embedders import get_embedder
from bookrec.models import Book, EmbeddingStatus
from bookrec.ranking import Mode
from bookrec.registry import registered_models, registration_for
from bookrec.search import SearchUnavailable

# Django's query parameter for "Show counts" (IS_FACETS_VAR, Django 5.0+; 4.2 has no counts).
FACETS_PARAMETER = "_facets"
EMBEDDING_FIELDS = ["embedding_status", "embedding_error", "embedding_model", "embedded_at"]


class EmbeddingStatusFilter(admin.SimpleListFilter):
    title = "embedding status"
    parameter_name = "embedding_status"

    def lookups(self, request, model_admin):
        return EmbeddingStatus.choices

    def queryset(self, request, queryset):
        return queryset.filter(embedding_status=self.value()) if self.value() else queryset


def counted(count, opts):
    """"3 books", "1 book": the model's own names."""
    return f"{count} {opts.verbose_name if count == 1 else opts.verbose_name_plural}"


@admin.action(description="Re-embed selected %(verbose_name_plural)s", permissions=["change"])
def reembed_selected(modeladmin, request, queryset):
    queued = tasks.reembed(queryset)
    for obj in queryset.iterator():  # in each object's History, as Django logs a deletion
        modeladmin.log_change(request, obj, "Queued for re-embedding.")
    modeladmin.message_user(request, f"Queued {counted(queued, modeladmin.opts)} for embedding.", messages.SUCCESS)


def chosen_mode(value, default):
    return value if value in Mode.values else default


class RecommendationAdminMixin:
    """For the ModelAdmin of a model registered in ``BOOKREC["MODELS"]``."""

    change_form_template = "admin/bookrec/change_form.html"
    change_list_template = "admin/bookrec/change_list.html"
    similar_shown = 10
    semantic_results_shown = 20

    def get_queryset(self, request):
        return indexing.with_embedding_state(super().get_queryset(request))

    def get_list_display(self, request):
        shown = list(super().get_list_display(request))
        return shown + [name for name in ("embedding_status",) if name not in shown]

    def get_list_filter(self, request):
        filters = list(super().get_list_filter(request))
        return filters if EmbeddingStatusFilter in filters else [EmbeddingStatusFilter, *filters]

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        return fields + [name for name in EMBEDDING_FIELDS if name not in fields]

    def get_actions(self, request):
        actions = super().get_actions(request)
        if self.has_change_permission(request):
            actions["reembed_selected"] = self.get_action(reembed_selected)
        return actions

    @admin.display(description="Embedding status", ordering="embedding_status")
    def embedding_status(self, obj):
        return EmbeddingStatus(obj.embedding_status).label

    @admin.display(description="Embedding model", ordering="embedding_model")
    def embedding_model(self, obj):
        return obj.embedding_model

    @admin.display(description="Embedding error")
    def embedding_error(self, obj):
        return obj.embedding_error

    @admin.display(description="Embedded at", ordering="embedded_at")
    def embedded_at(self, obj):
        return obj.embedded_at

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        custom = [
            path("reembed-stale/", self.admin_site.admin_view(self.reembed_stale_view),
                 name="%s_%s_reembed_stale" % info),
        ]
        return custom + super().get_urls()

    def reembed_stale_view(self, request):
        """Queue every object that is pending, failed, or has no vector from the current model:
        a page saying how many asks first (GET), the queueing is its POST."""
        if request.method not in ("GET", "POST"):
            return HttpResponseNotAllowed(["GET", "POST"])
        if not self.has_change_permission(request):
            raise PermissionDenied
        if request.method == "GET":
            count = self.stale_or_failed_count()
            return TemplateResponse(request, "admin/bookrec/reembed_stale_confirmation.html", {
                **self.admin_site.each_context(request), "opts": self.opts, "count": count,
                "counted": counted(count, self.opts), "title": "Re-embed everything stale or failed?",
                "model_name": get_embedder().model_name,
            })
        queued = tasks.reembed_stale_or_failed(self.model)
        self.message_user(
            request, f"Queued {counted(queued, self.opts).replace(' ', ' stale or failed ', 1)} for embedding.",
            messages.SUCCESS,
        )
        return HttpResponseRedirect(reverse("admin:%s_%s_changelist" % (self.opts.app_label, self.opts.model_name)))

    def stale_or_failed_count(self):
        """How many objects ``reembed_stale_or_failed`` would queue, read without writing."""
        registration = registration_for(self.model)
        return (
            registration.objects().alias(embedding_status=indexing.embedding_status_expression(registration))
            .filter(embedding_status__in=[EmbeddingStatus.PENDING, EmbeddingStatus.FAILED]).count()
        )

    def save_model(self, request, obj, form, change):
        """Save, and say what becomes of the embedding (the object's save queued it, or not)."""
        super().save_model(request, obj, form, change)
        state = indexing.embedding_states(registration_for(obj), [obj.pk]).get(obj.pk)
        if state is None:
            return
        if state.status == EmbeddingStatus.PENDING:
            self.message_user(request, "Its text is queued for embedding: the embedding status says when it is done.", messages.INFO)
        elif state.status == EmbeddingStatus.SKIPPED:
            self.message_user(request, "It has no text to embed, so it is left out of recommendations until it has.", messages.WARNING)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = extra_context or {}
        obj = self.get_object(request, object_id)
        if obj is not None:
            mode = chosen_mode(request.GET.get("similar_mode"), bookrec_settings.SIMILAR_MODE)
            extra_context.update(similar_mode=mode, modes=Mode.choices)
            try:
                extra_context["similar_books"] = recommend.similar(obj, mode=mode, limit=self.similar_shown)
            except recommendations.NotEmbedded as exc:
                extra_context["similar_books_unavailable"] = f"{exc} The keyword mode works without one."
        return super().change_view(request, object_id, form_url, extra_context)

    def changelist_view(self, request, extra_context=None):
        """The list, with a semantic query box: its results are shown above the list."""
        # The "re-embed everything stale or failed" button (change_list.html) is shown to
        # those who may use it; Django's change list context has no such flag of its own.
        extra_context = {"can_reembed": self.has_change_permission(request), **(extra_context or {})}
        request.GET = request.GET.copy()  # the list would take these for field lookups
        query = request.GET.pop("semantic", [""])[0].strip()
        mode = chosen_mode(request.GET.pop("semantic_mode", [""])[0], bookrec_settings.SEARCH_MODE)
        extra_context.update(semantic_query=query, semantic_mode=mode, modes=Mode.choices)
        if query:
            try:
                found = recommend.search(
                    self.model, query[: bookrec_settings.MAX_QUERY_CHARS], mode=mode, limit=self.semantic_results_shown
                )
            except SearchUnavailable as exc:
                self.message_user(request, f"{exc} Try the keyword mode.", messages.ERROR)
            else:
                extra_context.update(semantic_results=found, semantic_mode=found.mode)
                if found.notice:
                    self.message_user(request, found.notice, messages.WARNING)
        return super().changelist_view(request, extra_context)


class SubjectListFilter(admin.SimpleListFilter):
    title = "subject"
    parameter_name = "subject"

    def lookups(self, request, model_admin):
        subjects = (
            Book.objects.annotate(subject=Func(F("subjects"), function="unnest"))
            .values("subject").annotate(books=Count("id")).order_by("-books", "subject")[:60]
        )
        if facets_shown(request, model_admin):  # Django (5.0+) adds the counts itself
            return [(row["subject"], row["subject"]) for row in subjects]
        return [(row["subject"], f'{row["subject"]} ({row["books"]})') for row in subjects]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(subjects__contains=[self.value()])
        return queryset


def facets_shown(request, model_admin):
    """Whether Django's admin shows each filter choice's count ("Show counts", Django 5.0+)."""
    always = getattr(admin, "ShowFacets", None) and model_admin.show_facets == admin.ShowFacets.ALWAYS
    return bool(always) or FACETS_PARAMETER in request.GET


class SubjectsField(SimpleArrayField):
    """Subjects one per line: a heading may hold commas ("Science fiction, American"), which the
    comma-separated box of ``ArrayField`` split into two. Blank lines are dropped."""

    def __init__(self, **kwargs):
        kwargs.setdefault("widget", forms.Textarea(attrs={"rows": 4}))
        kwargs.setdefault("help_text", "One subject per line.")
        super().__init__(forms.CharField(max_length=200), delimiter="\n", **kwargs)

    def to_python(self, value):
        return super().to_python("\n".join(line for line in (value or "").splitlines() if line.strip()))


def book_registered():
    return Book in registered_models()


@admin.register(Book)
class BookAdmin(RecommendationAdminMixin, admin.ModelAdmin):
    """bookrec's own Book, shown only while it is registered in ``BOOKREC["MODELS"]``: a site
    that recommends its own model should not see a second, empty "Books" beside it."""

    list_display = ["title", "author", "language", "year", "embedding_status", "embedding_model", "updated_at"]
    list_filter = [EmbeddingStatusFilter, "language", SubjectListFilter]
    search_fields = ["title", "author", "external_id"]
    list_per_page = 50
    show_full_result_count = False  # COUNT(*) on a big catalogue is slow; the paginator estimates
    readonly_fields = [*EMBEDDING_FIELDS, "created_at", "updated_at"]
    fieldsets = [
        (None, {"fields": ["title", "author", "summary", "language", "subjects", "year", "external_id"]}),
        ("Embedding", {"fields": readonly_fields}),
    ]

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name == "subjects":
            return SubjectsField(required=False)
        if db_field.name == "year":  # the bounds of every way in (bookrec.catalogue)
            kwargs.update(min_value=EARLIEST_YEAR, max_value=latest_year())
        field = super().formfield_for_dbfield(db_field, request, **kwargs)
        if field is not None:
            # A browser cuts a value at maxlength without a word ("English (United Kingdom)"
            # became "English (United"): let the form say it is too long instead.
            field.widget.attrs.pop("maxlength", None)
        return field

    def has_module_permission(self, request):
        return book_registered() and super().has_module_permission(request)

    def has_view_permission(self, request, obj=None):
        return book_registered() and super().has_view_permission(request, obj)

    def has_change_permission(self, request, obj=None):
        return book_registered() and super().has_change_permission(request, obj)

    def has_add_permission(self, request):
        return book_registered() and super().has_add_permission(request)

    def has_delete_permission(self, request, obj=None):
        return book_registered() and super().has_delete_permission(request, obj)
