from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Func, F
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.translation import ngettext

from bookrec import pipeline, recommendations
from bookrec.conf import bookrec_settings
from bookrec.models import Book
from bookrec.ranking import Mode, RankingOptions, rank_similar
from bookrec.search import SearchUnavailable, search_books

SIMILAR_BOOKS_SHOWN = 10
SEMANTIC_RESULTS_SHOWN = 20


class SubjectListFilter(admin.SimpleListFilter):
    title = "subject"
    parameter_name = "subject"

    def lookups(self, request, model_admin):
        subjects = (
            Book.objects.annotate(subject=Func(F("subjects"), function="unnest"))
            .values("subject").annotate(books=Count("id")).order_by("-books", "subject")[:60]
        )
        return [(row["subject"], f'{row["subject"]} ({row["books"]})') for row in subjects]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(subjects__contains=[self.value()])
        return queryset


@admin.action(description="Re-embed selected books", permissions=["change"])
def reembed_selected(modeladmin, request, queryset):
    queued = pipeline.reembed(queryset)
    modeladmin.message_user(
        request, ngettext("Queued %d book for embedding.", "Queued %d books for embedding.", queued) % queued,
        messages.SUCCESS,
    )


@admin.register(Book)
class BookAdmin(admin.ModelAdmin):
    list_display = ["title", "author", "language", "year", "embedding_status", "embedding_model", "updated_at"]
    list_filter = ["embedding_status", "language", SubjectListFilter]
    search_fields = ["title", "author", "external_id"]
    actions = [reembed_selected]
    list_per_page = 50
    show_full_result_count = False  # COUNT(*) on a big catalogue is slow; the paginator estimates
    change_form_template = "admin/bookrec/book/change_form.html"
    change_list_template = "admin/bookrec/book/change_list.html"
    readonly_fields = ["embedding_status", "embedding_error", "embedding_model", "embedded_at", "created_at", "updated_at"]
    fieldsets = [
        (None, {"fields": ["title", "author", "summary", "language", "subjects", "year", "external_id"]}),
        ("Embedding", {"fields": readonly_fields}),
    ]

    def get_urls(self):
        custom = [
            path(
                "reembed-stale/",
                self.admin_site.admin_view(self.reembed_stale_view),
                name="bookrec_book_reembed_stale",
            )
        ]
        return custom + super().get_urls()

    def reembed_stale_view(self, request):
        """Queue every book that is pending, failed, or embedded by another model."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_change_permission(request):
            raise PermissionDenied
        queued = pipeline.reembed_stale_or_failed()
        self.message_user(
            request,
            ngettext(
                "Queued %d stale or failed book for embedding.",
                "Queued %d stale or failed books for embedding.", queued,
            ) % queued,
            messages.SUCCESS,
        )
        return HttpResponseRedirect(reverse("admin:bookrec_book_changelist"))

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = extra_context or {}
        book = self.get_object(request, object_id)
        if book is not None:
            mode = chosen_mode(request.GET.get("similar_mode"), bookrec_settings.SIMILAR_MODE)
            extra_context.update(similar_mode=mode, modes=Mode.choices)
            try:
                found = rank_similar(book, mode=mode, options=RankingOptions(limit=SIMILAR_BOOKS_SHOWN))
                extra_context["similar_books"] = found.results
            except recommendations.NotEmbedded as exc:
                extra_context["similar_books_unavailable"] = f"{exc} The keyword mode works without one."
        return super().change_view(request, object_id, form_url, extra_context)

    def changelist_view(self, request, extra_context=None):
        """The book list, with a semantic query box: its results are shown above the list."""
        # The "re-embed everything stale or failed" button (change_list.html) is shown to
        # those who may use it; Django's change list context has no such flag of its own.
        extra_context = {"can_reembed": self.has_change_permission(request), **(extra_context or {})}
        request.GET = request.GET.copy()  # the list would take these for field lookups
        query = request.GET.pop("semantic", [""])[0].strip()
        mode = chosen_mode(request.GET.pop("semantic_mode", [""])[0], bookrec_settings.SEARCH_MODE)
        extra_context.update(semantic_query=query, semantic_mode=mode, modes=Mode.choices)
        if query:
            try:
                found = search_books(
                    query[: bookrec_settings.MAX_QUERY_CHARS], mode=mode,
                    options=RankingOptions(limit=SEMANTIC_RESULTS_SHOWN),
                )
            except SearchUnavailable as exc:
                self.message_user(request, f"{exc} Try the keyword mode.", messages.ERROR)
            else:
                extra_context.update(semantic_results=found.results, semantic_mode=found.mode)
                if found.notice:
                    self.message_user(request, found.notice, messages.WARNING)
        return super().changelist_view(request, extra_context)


def chosen_mode(value, default):
    return value if value in Mode.values else default
