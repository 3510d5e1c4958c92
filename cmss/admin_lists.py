"""Admin changelists rendered in Python: the same pages, a fraction of the template work.

Django's changelist sends every cell through its generic row builder (a field
lookup, `display_for_field`, which flattens the field's choices again for each
cell, a widget template for each row's checkbox), renders each filter, the
search bar, the pager and every <option> of the action menu through templates of
their own. `LeanChangeListMixin` lets Django's view do everything it does (the
permissions, the actions, list_editable, the popups, ?e=1 for a bad filter) and
replaces only the rendering of those parts of its page, with the same HTML:
`admin/lean_change_list.html` extends the ModelAdmin's own changelist template and
fills its `search`, `result_list`, `pagination` and `filters` blocks with what this
module builds. Labels are translated once per page, choices mapped once per column.
"""

from __future__ import annotations

import datetime
import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib.admin import filters as admin_filters
from django.contrib.admin.options import IS_FACETS_VAR
from django.contrib.admin.templatetags import admin_list
from django.contrib.admin.templatetags.admin_list import pagination, paginator_number, result_headers
from django.contrib.admin.templatetags.admin_urls import add_preserved_filters
from django.contrib.admin.utils import display_for_field, display_for_value, lookup_field, quote
from django.contrib.admin.views.main import SEARCH_VAR
from django.core.exceptions import ObjectDoesNotExist
from django.db import connections, models
from django.http import HttpRequest, HttpResponse
from django.template.loader import get_template, select_template
from django.template.response import TemplateResponse
from django.templatetags.static import static
from django.urls import NoReverseMatch
from django.utils import dateformat, timezone
from django.utils.encoding import iri_to_uri
from django.utils.formats import get_format
from django.utils.html import conditional_escape, escape, format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.text import capfirst
from django.utils.translation import get_language, gettext, ngettext

if TYPE_CHECKING:
    from django.contrib.admin.views.main import ChangeList
    from django_stubs_ext import StrOrPromise

    _Base = Any
else:
    _Base = object

_PK = "0lean0pk0"  # stands for a row's primary key in a URL reversed once per page


class LeanChangeListMixin(_Base):
    """Mix into a ModelAdmin (before admin.ModelAdmin) to render its changelist in Python."""

    # False: Django's templates render the page (the tests compare the two).
    lean_changelist = True

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        response = super().changelist_view(request, extra_context)
        if (
            self.lean_changelist
            and request.method == "GET"
            and isinstance(response, TemplateResponse)
            and not response.is_rendered
            and response.context_data is not None
            and "cl" in response.context_data
        ):
            context = response.context_data
            cl = context["cl"]
            if not cl.formset and not cl.is_popup:
                context.update(lean_parts(cl, context))
                names = response.template_name
                chosen = get_template(names) if isinstance(names, str) else select_template(names)  # type: ignore[arg-type]
                context["lean_base"] = chosen.template  # type: ignore[union-attr]
                response.template_name = "admin/lean_change_list.html"
        return response


def is_changelist_page(request: HttpRequest, model_admin: Any) -> bool:
    """Whether the request is for the model's list page (a GET): its queryset may then
    read only the columns the list shows, while actions, the change form and the
    autocomplete views still read whole rows."""
    match = request.resolver_match
    opts = model_admin.opts
    return (
        request.method == "GET"
        and match is not None
        and match.url_name == f"{opts.app_label}_{opts.model_name}_changelist"
    )


class ReferenceFieldListFilter(admin_filters.RelatedFieldListFilter):
    """A filter by a foreign key or many-to-many to reference data (ERNs, languages,
    specialties: rows that change with an edit in the admin, not with use), its
    choices cached per language under the "reference" topic (cmss/fragments.py),
    which a save or a delete of those models bumps: not a query and a few hundred
    model instances on every page of the list."""

    TOPIC = "reference"

    def field_choices(
        self, field: Any, request: HttpRequest, model_admin: Any
    ) -> list[tuple[str, StrOrPromise]]:
        from cmss import fragments

        ordering = self.field_admin_ordering(field, request, model_admin)
        related = field.remote_field.model._meta.label
        return fragments.cached(
            (self.TOPIC,),
            ("admin-filter", field.model._meta.label, field.name, related, tuple(map(str, ordering))),
            lambda: [
                (value, str(label))
                for value, label in field.get_choices(include_blank=False, ordering=ordering)
            ],
            per_zone=False,
        )


class IndexedValuesFieldListFilter(admin_filters.AllValuesFieldListFilter):
    """Django's filter by every value a column holds, its values found by walking the
    column's index from one value to the next (a recursive query, a few index probes
    per value) rather than by SELECT DISTINCT, which reads the whole table: the audit
    log's action and object type on every page of a log that only grows. The same
    values in the same order; Django's query where the index walk does not apply (a
    filtered queryset, a related field, another database)."""

    def __init__(
        self, field: Any, request: HttpRequest, params: Any, model: Any, model_admin: Any, field_path: str
    ) -> None:
        super().__init__(field, request, params, model, model_admin, field_path)
        queryset = model_admin.get_queryset(request)
        if (
            field_path == field.name
            and field.model is model
            and not queryset.query.where
            and connections[queryset.db].vendor == "postgresql"
        ):
            self.lookup_choices = _distinct_values(queryset, field)  # type: ignore[assignment]


def _distinct_values(queryset: Any, field: Any) -> list[Any]:
    connection = connections[queryset.db]
    table = connection.ops.quote_name(queryset.model._meta.db_table)
    column = connection.ops.quote_name(field.column)
    # Names from the model's options, quoted; no value of the request is written in.
    sql = (
        f"WITH RECURSIVE walk(value) AS (SELECT MIN({column}) FROM {table}"  # noqa: S608
        f" UNION ALL SELECT (SELECT MIN({column}) FROM {table} WHERE {column} > walk.value)"
        " FROM walk WHERE walk.value IS NOT NULL) SELECT value FROM walk WHERE value IS NOT NULL"
    )
    if field.null:
        sql += f" UNION ALL (SELECT NULL FROM {table} WHERE {column} IS NULL LIMIT 1)"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql)
        values = [row[0] for row in cursor.fetchall()]
    return [field.to_python(value) if value is not None else None for value in values]


def lean_parts(cl: ChangeList, context: dict[str, Any]) -> dict[str, str]:
    """The changelist's search bar, action menu, table, pager and filters, as HTML."""
    action_form = context.get("action_form")
    actions = ""
    if action_form is not None and cl.show_admin_actions:
        actions = action_menu(cl, action_form.fields["action"].choices)
    return {
        "lean_search": search_bar(cl),
        "lean_actions_top": actions if context.get("actions_on_top") else "",
        "lean_actions_bottom": actions if context.get("actions_on_bottom") else "",
        "lean_results": results_table(cl),
        "lean_pager": pager(cl),
        "lean_filters": filters(cl),
    }


def search_bar(cl: ChangeList) -> SafeString:
    """admin/search_form.html, in Python."""
    if not cl.search_fields:
        return mark_safe("")
    count = ""
    if cl.result_count != cl.full_result_count:
        total = (
            gettext("%(full_result_count)s total") % {"full_result_count": cl.full_result_count}
            if cl.show_full_result_count
            else gettext("Show all")
        )
        count = format_html(
            '<span class="small quiet">{} (<a href="?{}">{}</a>)</span>\n',
            ngettext("%(counter)s result", "%(counter)s results", cl.result_count)
            % {"counter": cl.result_count},
            IS_FACETS_VAR if cl.add_facets else "",
            total,
        )
    hidden = "".join(
        format_html('<input type="hidden" name="{}" value="{}">', name, value)
        for name, value in cl.params.items()
        if name != SEARCH_VAR
    )
    helptext, described = "", ""
    if cl.search_help_text:
        described = ' aria-describedby="searchbar_helptext"'
        helptext = format_html(
            '<br class="clear">\n<div class="help" id="searchbar_helptext">{}</div>\n', cl.search_help_text
        )
    return format_html(
        '<div id="toolbar"><form id="changelist-search" method="get" role="search">\n'
        "<div><!-- DIV needed for valid HTML -->\n"
        '<label for="searchbar"><img src="{}" alt="Search"></label>\n'
        '<input type="text" size="40" name="{}" value="{}" id="searchbar"{}>\n'
        '<input type="submit" value="{}">\n{}{}</div>\n{}</form></div>\n',
        static("admin/img/search.svg"),
        SEARCH_VAR,
        cl.query,
        mark_safe(described),
        gettext("Search"),
        count,
        mark_safe(hidden),  # built with format_html just above
        helptext,
    )


def action_menu(cl: ChangeList, choices: Any) -> SafeString:
    """admin/actions.html with its <select> written here, not a template per option."""
    options = "".join(
        format_html(
            '\n<option value="{}"{}>{}</option>', value, mark_safe(" selected" if not value else ""), label
        )
        for value, label in choices
    )
    shown, total = len(cl.result_list), cl.result_count
    across = ""
    if total != shown:
        across = format_html(
            '<span class="all hidden">{}</span>\n<span class="question hidden">\n'
            '<a role="button" href="#" title="{}">{}</a>\n</span>\n'
            '<span class="clear hidden"><a role="button" href="#">{}</a></span>\n',
            ngettext("%(total_count)s selected", "All %(total_count)s selected", total)
            % {"total_count": total},
            gettext("Click here to select the objects across all pages"),
            gettext("Select all %(total_count)s %(module_name)s")
            % {"total_count": total, "module_name": cl.opts.verbose_name_plural},
            gettext("Clear selection"),
        )
    counter = ""
    if cl.model_admin.actions_selection_counter:
        counter = format_html(
            '<span class="action-counter" data-actions-icnt="{}">{}</span>\n{}',
            shown,
            ngettext("%(sel)s of %(cnt)s selected", "%(sel)s of %(cnt)s selected", shown)
            % {"sel": 0, "cnt": shown},
            across,
        )
    return format_html(
        '<div class="actions">\n<label>{} <select name="action" required>{}\n</select></label>'
        '<input type="hidden" name="select_across" value="0" class="select-across">\n'
        '<button type="submit" class="button" title="{}" name="index" value="0">{}</button>\n{}</div>\n',
        gettext("Action:"),
        mark_safe(options),  # built with format_html just above
        gettext("Run the selected action"),
        gettext("Go"),
        counter,
    )


def headers_row(cl: ChangeList) -> str:
    """The <th>s of admin/change_list_results.html, from Django's own result_headers."""
    headers: list[dict[str, Any]] = list(result_headers(cl))
    sorted_fields = sum(1 for header in headers if header["sortable"] and header["sorted"])
    remove, toggle = gettext("Remove from sorting"), gettext("Toggle sorting")
    cells = []
    for header in headers:
        text = capfirst(header["text"])
        if isinstance(header["text"], SafeString):  # the select-all box: |capfirst keeps it safe
            text = mark_safe(text)
        options = ""
        if header["sortable"] and header["sort_priority"] > 0:
            priority = ""
            if sorted_fields > 1:
                priority = format_html(
                    '<span class="sortpriority" title="{}">{}</span>',
                    gettext("Sorting priority: %(priority_number)s")
                    % {"priority_number": header["sort_priority"]},
                    header["sort_priority"],
                )
            options = format_html(
                '<div class="sortoptions">\n<a class="sortremove" href="{}" title="{}"></a>\n{}'
                '<a href="{}" class="toggle {}" title="{}"></a>\n</div>\n',
                header["url_remove"],
                remove,
                priority,
                header["url_toggle"],
                "ascending" if header["ascending"] else "descending",
                toggle,
            )
        label = (
            format_html('<a href="{}">{}</a>', header["url_primary"], text)
            if header["sortable"]
            else format_html("<span>{}</span>", text)
        )
        cells.append(
            format_html(
                '<th scope="col"{}>\n{}<div class="text">{}</div>\n<div class="clear"></div>\n</th>',
                header["class_attrib"],
                options,
                label,
            )
        )
    return "\n".join(cells)


def results_table(cl: ChangeList) -> SafeString:
    """admin/change_list_results.html: Django's cells, built by one function per column."""
    if not cl.result_list:
        return mark_safe("")
    columns = [_column(cl, index, name) for index, name in enumerate(cl.list_display)]
    link = _link_builder(cl)
    rows = []
    first_link = cl.list_display_links is not None and not cl.list_display_links
    for result in cl.result_list:
        cells = []
        linked = False
        for name, column in zip(cl.list_display, columns, strict=True):
            classes, text = column(result)
            if link is not None and (
                (not linked and first_link) or (not first_link and name in cl.list_display_links)
            ):
                tag = "td" if linked else "th"
                linked = True
                cells.append(f'<{tag} class="{classes}">{link(result, text)}</{tag}>')
            else:
                cells.append(f'<td class="{classes}">{text}</td>')
        rows.append(f"<tr>{''.join(cells)}</tr>")
    return format_html(
        '<div class="results">\n<table id="result_list">\n<thead>\n<tr>\n{}\n</tr>\n</thead>\n'
        "<tbody>\n{}\n</tbody>\n</table>\n</div>\n",
        mark_safe(headers_row(cl)),  # built with format_html
        mark_safe("\n".join(rows)),  # every value escaped by its column
    )


def _link_builder(cl: ChangeList) -> Callable[[Any, str], str] | None:
    """The change link of a row: reversed once per page, the row's key put in."""
    if cl.list_display_links is None:
        return None
    try:
        template = cl.url_for_result(_Stand(cl.opts.pk.attname))  # type: ignore[arg-type]
    except NoReverseMatch:
        return lambda result, text: text
    template = add_preserved_filters({"preserved_filters": cl.preserved_filters, "opts": cl.opts}, template)
    before, _, after = escape(template).partition(_PK)
    attname = cl.opts.pk.attname

    def link(result: Any, text: str) -> str:
        return f'<a href="{before}{escape(quote(getattr(result, attname)))}{after}">{text}</a>'

    return link


class _Stand:
    """An object whose primary key is the placeholder, to reverse a change URL once."""

    def __init__(self, attname: str) -> None:
        setattr(self, attname, _PK)
        self.pk = _PK


Column = Callable[[Any], tuple[str, str]]


def _column(cl: ChangeList, index: int, name: Any) -> Column:
    """One function per column giving a row's (classes, cell HTML), as items_for_result would."""
    model_admin = cl.model_admin
    empty = model_admin.get_empty_value_display()
    field_class = "field-" + (
        ("lambda" + str(index) if name.__name__ == "<lambda>" else name.__name__) if callable(name) else name
    )
    if name == "action_checkbox" and type(model_admin).action_checkbox is _default_action_checkbox():
        # As format_html(gettext(...), str(obj)): the label as translated, the object escaped.
        before, _, after = gettext("Select this object for an action - {}").partition("{}")

        def checkbox(result: Any) -> tuple[str, str]:
            aria = f"{before}{escape(str(result))}{after}"
            return "action-checkbox", (
                f'<input type="checkbox" name="_selected_action" value="{escape(result.pk)}"'
                f' class="action-select" aria-label="{aria}">'
            )

        return checkbox
    field = _model_field(cl.opts, name)
    if field is None:
        # A method of the ModelAdmin or the model, a property, __str__: Django's own lookup.
        def generic(result: Any) -> tuple[str, str]:
            classes = "action-checkbox" if name == "action_checkbox" else field_class
            try:
                _f, attr, value = lookup_field(name, result, model_admin)
            except ObjectDoesNotExist:
                return classes, str(conditional_escape(empty))
            row_empty = getattr(attr, "empty_value_display", empty)
            boolean = getattr(attr, "boolean", False)
            if isinstance(attr, property) and hasattr(attr, "fget"):
                boolean = getattr(attr.fget, "boolean", False)
            text = display_for_value(value, row_empty, boolean)
            if isinstance(value, datetime.date | datetime.time):
                classes += " nowrap"
            return classes, _cell(text)

        return generic
    attname = field.attname
    if isinstance(field.remote_field, models.ManyToOneRel):
        related = field.name

        def foreign(result: Any) -> tuple[str, str]:
            value = getattr(result, related)
            return field_class + " nowrap", _cell(empty if value is None else value)

        return foreign
    nowrap = " nowrap" if isinstance(field, models.DateField | models.TimeField) else ""
    if getattr(field, "flatchoices", None):
        labels = _choice_labels(field)

        def choice(result: Any) -> tuple[str, str]:
            # The stored value: a django-countries descriptor makes a Country object per read.
            value = result.__dict__[attname] if attname in result.__dict__ else getattr(result, attname)
            key = getattr(value, "code", value)  # a django-countries Country is its code
            return field_class + nowrap, labels.get(key) or _cell(empty)

        return choice
    if isinstance(field, models.BooleanField):
        icon = admin_list._boolean_icon  # type: ignore[attr-defined]
        icons = {value: str(icon(value)) for value in (True, False, None)}
        return lambda result: (field_class, icons[getattr(result, attname)])
    if isinstance(field, models.DateTimeField):
        when = datetime_formatter()

        def moment(result: Any) -> tuple[str, str]:
            value = getattr(result, attname)
            if value in field.empty_values:
                return field_class + nowrap, _cell(empty)
            return field_class + nowrap, escape(when(timezone.localtime(value)))

        return moment
    if isinstance(field, models.IntegerField) and not settings.USE_THOUSAND_SEPARATOR:
        # display_for_field's number_format: the number as it is, without grouping.
        def number(result: Any) -> tuple[str, str]:
            value = getattr(result, attname)
            return field_class + nowrap, _cell(empty) if value is None else str(value)

        return number
    if isinstance(field, models.CharField | models.TextField | models.EmailField) and not isinstance(
        field, models.URLField
    ):

        def text(result: Any) -> tuple[str, str]:
            value = getattr(result, attname)
            return field_class, _cell(empty if value in field.empty_values else value)

        return text
    return lambda result: (
        field_class + nowrap,
        _cell(display_for_field(getattr(result, attname), field, empty)),
    )


def datetime_formatter(format_string: str | None = None) -> Callable[[datetime.datetime], str]:
    """What dateformat.format(value, format_string) gives, for the many values of a page:
    the format (by default the language's DATETIME_FORMAT) parsed once and the month
    and day names and a.m./p.m. translated once per language, not each time
    for each cell (a fifth of a 100-row list's time went to formatting its dates)."""
    if format_string is None:
        format_string = str(get_format("DATETIME_FORMAT"))
    return _compiled_format(format_string, get_language())


_Piece = Callable[[datetime.datetime], str]


@functools.lru_cache(maxsize=64)
def _compiled_format(format_string: str, language: str | None) -> Callable[[datetime.datetime], str]:
    from django.utils.dates import MONTHS, MONTHS_3, MONTHS_ALT, MONTHS_AP, WEEKDAYS, WEEKDAYS_ABBR

    def names(table: Any) -> dict[int, str]:
        return {key: str(value) for key, value in table.items()}

    months, months_3, months_alt, months_ap = (
        names(MONTHS),
        names(MONTHS_3),
        names(MONTHS_ALT),
        names(MONTHS_AP),
    )
    weekdays, weekdays_abbr = names(WEEKDAYS), names(WEEKDAYS_ABBR)
    am, pm, big_am, big_pm = gettext("a.m."), gettext("p.m."), gettext("AM"), gettext("PM")
    midnight, noon = gettext("midnight"), gettext("noon")

    def f(d: datetime.datetime) -> str:
        return f"{d.hour % 12 or 12}:{d.minute:02d}" if d.minute else str(d.hour % 12 or 12)

    def p(d: datetime.datetime) -> str:
        if d.minute == 0 and d.hour in (0, 12):
            return midnight if d.hour == 0 else noon
        return f"{f(d)} {pm if d.hour > 11 else am}"

    table: dict[str, _Piece] = {
        "a": lambda d: pm if d.hour > 11 else am,
        "A": lambda d: big_pm if d.hour > 11 else big_am,
        "b": lambda d: months_3[d.month],
        "d": lambda d: f"{d.day:02d}",
        "D": lambda d: weekdays_abbr[d.weekday()],
        "E": lambda d: months_alt[d.month],
        "f": f,
        "F": lambda d: months[d.month],
        "g": lambda d: str(d.hour % 12 or 12),
        "G": lambda d: str(d.hour),
        "h": lambda d: f"{d.hour % 12 or 12:02d}",
        "H": lambda d: f"{d.hour:02d}",
        "i": lambda d: f"{d.minute:02d}",
        "j": lambda d: str(d.day),
        "l": lambda d: weekdays[d.weekday()],
        "m": lambda d: f"{d.month:02d}",
        "M": lambda d: months_3[d.month].title(),
        "n": lambda d: str(d.month),
        "N": lambda d: months_ap[d.month],
        "P": p,
        "s": lambda d: f"{d.second:02d}",
        "u": lambda d: f"{d.microsecond:06d}",
        "y": lambda d: f"{d.year % 100:02d}",
        "Y": lambda d: f"{d.year:04d}",
    }
    pieces: list[str | _Piece] = []
    for index, piece in enumerate(dateformat.re_formatchars.split(format_string)):
        if index % 2:
            if piece not in table:  # a zone or a week number: Django's own, each time
                return functools.partial(dateformat.format, format_string=format_string)
            pieces.append(table[piece])
        elif piece:
            pieces.append(dateformat.re_escaped.sub(r"\1", piece))

    def formatted(value: datetime.datetime) -> str:
        return "".join(piece if isinstance(piece, str) else piece(value) for piece in pieces)

    return formatted


def _cell(value: Any) -> str:
    """A cell's text as the stock template shows it: escaped unless safe, &nbsp; if empty."""
    text = str(conditional_escape(value))
    return text or "&nbsp;"


def _model_field(opts: Any, name: Any) -> models.Field[Any, Any] | None:
    if callable(name) or name == "__str__":
        return None
    try:
        field = opts.get_field(name)
    except Exception:  # FieldDoesNotExist: a method or property
        return None
    if not isinstance(field, models.Field) or field.auto_created or field.many_to_many:
        return None
    if field.is_relation and name != field.name:
        return None  # "user_id": the admin shows the column's raw value
    return field


def _choice_labels(field: models.Field[Any, Any]) -> dict[Any, str]:
    """The field's choices as escaped labels; a django-countries list (some 250
    names sorted in the viewer's language) is kept per language."""
    from django_countries.fields import CountryField

    if isinstance(field, CountryField):
        return _country_labels(field.model._meta.label, field.name, get_language())
    return {value: str(conditional_escape(label)) for value, label in field.flatchoices}


@functools.cache
def _country_labels(model: str, name: str, language: str | None) -> dict[Any, str]:
    from django.apps import apps

    field = apps.get_model(model)._meta.get_field(name)
    return {value: str(conditional_escape(label)) for value, label in field.flatchoices}


@functools.cache
def _default_action_checkbox() -> Any:
    from django.contrib.admin import ModelAdmin

    return ModelAdmin.action_checkbox


def pager(cl: ChangeList) -> SafeString:
    """admin/pagination.html, in Python."""
    pages = pagination(cl)
    links = "\n".join(str(paginator_number(cl, i)) for i in pages["page_range"])
    count = cl.result_count
    name = cl.opts.verbose_name if count == 1 else cl.opts.verbose_name_plural
    show_all = ""
    if pages["show_all_url"]:
        show_all = format_html(
            '<a href="{}" class="showall">{}</a>', pages["show_all_url"], gettext("Show all")
        )
    return format_html(
        '<p class="paginator">\n{}\n{} {}\n{}\n</p>\n', mark_safe(links), count, name, show_all
    )


def filters(cl: ChangeList) -> SafeString:
    """The filter sidebar (change_list.html's filters block and admin/filter.html), in Python.
    A filter with a template of its own is rendered with it."""
    if not cl.has_filters:
        return mark_safe("")
    extra = []
    if cl.is_facets_optional:
        extra.append(
            format_html('<a href="{}" class="hidelink">{}</a>', cl.remove_facet_link, gettext("Hide counts"))
            if cl.add_facets
            else format_html(
                '<a href="{}" class="viewlink">{}</a>', cl.add_facet_link, gettext("Show counts")
            )
        )
    if cl.has_active_filters:
        extra.append(
            format_html('<a href="{}">&#10006; {}</a>', cl.clear_all_filters_qs, gettext("Clear all filters"))
        )
    extras = ""
    if extra:
        extras = format_html(
            '<div id="changelist-filter-extra-actions">\n{}</div>\n',
            mark_safe("".join(f"<h3>\n{item}\n</h3>\n" for item in extra)),  # built with format_html
        )
    specs = []
    for spec in cl.filter_specs:
        choices = list(spec.choices(cl))
        if spec.template != "admin/filter.html":
            specs.append(
                get_template(spec.template).render({"title": spec.title, "choices": choices, "spec": spec})
            )
            continue
        items = "".join(
            format_html(
                '<li{}>\n<a href="{}">{}</a></li>\n',
                mark_safe(' class="selected"' if choice["selected"] else ""),
                iri_to_uri(choice["query_string"]),
                choice["display"],
            )
            for choice in choices
        )
        specs.append(
            format_html(
                '<details data-filter-title="{}" open>\n<summary>\n{}\n</summary>\n<ul>\n{}</ul>\n</details>\n',
                spec.title,
                gettext(" By %(filter_title)s ") % {"filter_title": spec.title},
                mark_safe(items),  # built with format_html
            )
        )
    return format_html(
        '<nav id="changelist-filter" aria-labelledby="changelist-filter-header">\n'
        '<h2 id="changelist-filter-header">{}</h2>\n{}{}</nav>\n',
        gettext("Filter"),
        extras,
        mark_safe("".join(specs)),  # built with format_html
    )
