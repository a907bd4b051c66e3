"""The base of every registered model's FilterSet (``FILTERS`` builds one on it; a site's own
``FILTERSET`` may use it too)."""

from django_filters import rest_framework as filters

LOWER_BOUNDS = {"gte", "gt"}
UPPER_BOUNDS = {"lte", "lt"}


class FilterSet(filters.FilterSet):
    """django-filter's FilterSet that also refuses an empty range: a lower bound above the upper
    bound of the same field (``year_min=2000&year_max=1000``) is an error naming the lower bound,
    not an empty answer."""

    def is_valid(self):
        return super().is_valid() and not self.add_empty_range_errors()

    def add_empty_range_errors(self):
        """Add an error for each empty range; whether there was one."""
        data = self.form.cleaned_data
        found = False
        for low_name, low in self.filters.items():
            if low.lookup_expr not in LOWER_BOUNDS or data.get(low_name) is None:
                continue
            for high_name, high in self.filters.items():
                if (
                    high.field_name == low.field_name and high.lookup_expr in UPPER_BOUNDS
                    and data.get(high_name) is not None and data[low_name] > data[high_name]
                ):
                    self.form.add_error(low_name, f"Greater than {high_name} ({data[high_name]}): no value is in between.")
                    found = True
                    break
        return found
