"""HTML forms of the registry pages.

Forms only parse and present input: every write goes through ``registry.services``,
whose ValidationError messages are put back on the form with ``add_service_errors``.
Section forms are built from a template definition, so any template (shipped or an
organisation's own) gets an edit form without code.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from governance import inputs
from registry import template_schema
from registry.choices import (
    MaterialityLevel,
    ModelStatus,
    ModelType,
    Regulation,
    RiskTier,
)
from registry.models import DocumentTemplate, Model

_BLANK = [("", "Any")]


class BaseForm(forms.Form):
    # Labels carry no trailing colon; the layout separates label and control.
    label_suffix = ""


def add_service_errors(form: forms.Form, exc: ValidationError) -> None:
    """Attach a service's ValidationError to the form fields it names.

    Keys that are not fields of the form (``__all__``, ``section``, nested paths)
    become form-wide errors, prefixed with the key when it is informative.
    """
    if not hasattr(exc, "error_dict"):
        for message in exc.messages:
            form.add_error(None, message)
        return
    for key, errors in exc.message_dict.items():
        for message in errors:
            if key in form.fields:
                form.add_error(key, message)
            elif key in {"__all__", "non_field_errors", "section", "values"}:
                form.add_error(None, message)
            else:
                form.add_error(None, f"{key}: {message}")


class InventoryFilterForm(BaseForm):
    q = forms.CharField(
        label="Search",
        required=False,
        max_length=200,
        help_text="Name, slug or purpose contains.",
        widget=forms.TextInput(attrs={"type": "search"}),
    )
    risk_tier = forms.ChoiceField(
        label="Risk tier", required=False, choices=_BLANK + list(RiskTier.choices)
    )
    status = forms.ChoiceField(
        label="Status", required=False, choices=_BLANK + list(ModelStatus.choices)
    )
    business_unit = forms.ChoiceField(label="Business unit", required=False)
    regulation = forms.ChoiceField(
        label="Regulation", required=False, choices=_BLANK + list(Regulation.choices)
    )

    def __init__(self, *args: Any, business_units: Iterable[str] = (), **kwargs: Any):
        super().__init__(*args, **kwargs)
        units = [u for u in business_units if u]
        current = self.data.get("business_unit", "") if self.is_bound else ""
        if current and current not in units:
            # Keep a hand-typed filter selectable instead of failing validation.
            units.append(current)
        self.fields["business_unit"].choices = _BLANK + [(u, u) for u in units]  # type: ignore[attr-defined]

    def filters(self) -> dict[str, str]:
        """The valid, non-empty filters, ready for the selector; invalid ones are
        dropped (and reported by the form)."""
        self.is_valid()
        return {k: v for k, v in self.cleaned_data.items() if v}

    @property
    def is_filtered(self) -> bool:
        return bool(self.filters())


def _usernames(value: str) -> list[str]:
    return [name for name in value.replace(",", " ").split() if name]


class ModelEntryForm(BaseForm):
    """The inventory fields of a model, for creating and for editing it."""

    name = forms.CharField(max_length=200)
    slug = forms.SlugField(
        max_length=100,
        help_text="Short identifier used in URLs and the API; cannot change later.",
    )
    model_type = forms.ChoiceField(choices=ModelType.choices, initial=ModelType.ML)
    methodology = forms.CharField(max_length=300, required=False)
    purpose = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="What the model is for (SR 11-7 §VI).",
    )
    intended_use = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        help_text="Actual or expected usage.",
    )
    out_of_scope_uses = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        label="Out-of-scope uses",
        help_text="Restrictions on use.",
    )
    products = forms.CharField(max_length=300, required=False)
    business_unit = forms.CharField(max_length=100, required=False)
    owner = forms.CharField(
        max_length=150,
        required=False,
        help_text="Username of the business owner, accountable for model use.",
    )
    developers = forms.CharField(
        max_length=2000,
        required=False,
        label="Team",
        help_text="Usernames of developers and service accounts, separated by commas.",
    )
    is_vendor = forms.BooleanField(required=False, label="Vendor model")
    vendor_name = forms.CharField(max_length=200, required=False)
    risk_tier = forms.TypedChoiceField(
        choices=RiskTier.choices, coerce=int, initial=RiskTier.TIER_2
    )
    tier_rationale = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), required=False
    )
    materiality_exposure = forms.ChoiceField(
        choices=[("", "Not assessed")] + list(MaterialityLevel.choices),
        required=False,
        help_text="SR 26-2: size of the exposure the model drives.",
    )
    materiality_purpose = forms.ChoiceField(
        choices=[("", "Not assessed")] + list(MaterialityLevel.choices),
        required=False,
        help_text="SR 26-2: importance of the decisions the model informs.",
    )
    regulations = forms.MultipleChoiceField(
        choices=Regulation.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    status = forms.ChoiceField(
        choices=ModelStatus.choices, initial=ModelStatus.IN_DEVELOPMENT
    )
    next_review_date = forms.DateField(
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )

    GROUPS = (
        (
            "Identity and use",
            (
                "name",
                "slug",
                "model_type",
                "methodology",
                "purpose",
                "intended_use",
                "out_of_scope_uses",
                "products",
                "business_unit",
            ),
        ),
        ("People", ("owner", "developers", "is_vendor", "vendor_name")),
        (
            "Risk, regulation and review",
            (
                "risk_tier",
                "tier_rationale",
                "materiality_exposure",
                "materiality_purpose",
                "regulations",
                "status",
                "next_review_date",
            ),
        ),
    )

    TEAM_READONLY_HELP = (
        "Only a risk officer or an administrator may change the owner and the team "
        "after registration: the team decides who may validate and approve."
    )

    def __init__(
        self,
        *args: Any,
        instance: Model | None = None,
        may_change_team: bool = True,
        **kwargs: Any,
    ):
        self.instance = instance
        if instance is not None and "initial" not in kwargs:
            kwargs["initial"] = self._initial_from(instance)
        super().__init__(*args, **kwargs)
        if instance is not None:
            del self.fields["slug"]
            if not may_change_team:
                # Shown read-only (and still submitted, so an unchanged team is no
                # change); a changed one is refused and recorded by the service.
                for name in ("owner", "developers"):
                    self.fields[name].widget.attrs["readonly"] = True
                    self.fields[name].help_text = self.TEAM_READONLY_HELP

    def groups(self) -> list[tuple[str, list[forms.BoundField]]]:
        """The bound fields in labelled groups, for fieldsets."""
        return [
            (legend, [self[name] for name in names if name in self.fields])
            for legend, names in self.GROUPS
        ]

    @staticmethod
    def _initial_from(model: Model) -> dict[str, Any]:
        return {
            "name": model.name,
            "model_type": model.model_type,
            "methodology": model.methodology,
            "purpose": model.purpose,
            "intended_use": model.intended_use,
            "out_of_scope_uses": model.out_of_scope_uses,
            "products": model.products,
            "business_unit": model.business_unit,
            "owner": model.owner.get_username() if model.owner else "",
            "developers": ", ".join(
                sorted(u.get_username() for u in model.developers.all())
            ),
            "is_vendor": model.is_vendor,
            "vendor_name": model.vendor_name,
            "risk_tier": model.risk_tier,
            "tier_rationale": model.tier_rationale,
            "materiality_exposure": model.materiality_exposure,
            "materiality_purpose": model.materiality_purpose,
            "regulations": list(model.regulations or []),
            "status": model.status,
            "next_review_date": model.next_review_date,
        }

    def service_data(self) -> dict[str, Any]:
        """The cleaned values in the shape ``model_create``/``model_update`` take."""
        data = dict(self.cleaned_data)
        data["owner"] = data.get("owner", "").strip()
        developers = _usernames(data.pop("developers", ""))
        if self.instance is None:
            data["developers"] = developers
        else:
            current = {u.get_username() for u in self.instance.developers.all()}
            # model_update records "developers" as changed whenever it is given.
            if set(developers) != current:
                data["developers"] = developers
            if data["owner"] == (
                self.instance.owner.get_username() if self.instance.owner else ""
            ):
                del data["owner"]
        return data


class DocumentStartForm(BaseForm):
    template = forms.ModelChoiceField(
        queryset=DocumentTemplate.objects.none(),
        empty_label=None,
        label="Template",
    )
    title = forms.CharField(
        max_length=300,
        required=False,
        help_text="Leave empty for the template name, model and version.",
    )

    def __init__(self, *args: Any, templates: Iterable[DocumentTemplate], **kwargs):
        super().__init__(*args, **kwargs)
        ids = [t.pk for t in templates]
        field = self.fields["template"]
        field.queryset = DocumentTemplate.objects.filter(pk__in=ids).order_by("key")  # type: ignore[attr-defined]
        field.label_from_instance = lambda t: f"{t.name} (v{t.version})"  # type: ignore[attr-defined]


# --- Section forms built from a template definition -------------------------------


class _NumberField(forms.CharField):
    """A number kept as int when it is integral, as the JSON content stores it."""

    widget = forms.NumberInput(attrs={"step": "any"})

    def to_python(self, value: Any) -> int | float | None:  # type: ignore[override]
        text = str(super().to_python(value) or "").strip()
        if not text:
            return None
        try:
            integer = int(text)
        except ValueError:
            pass
        else:
            if not inputs.INT_MIN <= integer <= inputs.INT_MAX:
                raise ValidationError(
                    inputs.integer_message(inputs.INT_MIN, inputs.INT_MAX),
                    code="invalid",
                )
            return integer
        try:
            number = float(text)
        except ValueError as exc:
            raise ValidationError("Enter a number.", code="invalid") from exc
        if number != number or number in (float("inf"), float("-inf")):
            raise ValidationError("Enter a finite number.", code="invalid")
        return number


def _form_field(fdef: Mapping[str, Any], *, required: bool) -> forms.Field:
    """The form field for one template field. Never ``required`` in HTML: drafts may
    be incomplete, and completeness reports what is missing."""
    kind = fdef["type"]
    common: dict[str, Any] = {
        "label": fdef["label"],
        "required": False,
        "help_text": fdef.get("help", ""),
    }
    field: forms.Field
    if kind == "textarea":
        field = forms.CharField(
            widget=forms.Textarea(attrs={"rows": 5}),
            max_length=template_schema.MAX_TEXT,
            strip=False,
            **common,
        )
    elif kind == "text":
        field = forms.CharField(max_length=template_schema.MAX_TEXT, **common)
    elif kind == "url":
        field = forms.CharField(
            widget=forms.URLInput,
            max_length=template_schema.MAX_TEXT,
            **common,
        )
    elif kind == "choice":
        field = forms.ChoiceField(
            choices=[("", "Not answered")] + [(c, c) for c in fdef["choices"]],
            **common,
        )
    elif kind == "multichoice":
        field = forms.MultipleChoiceField(
            choices=[(c, c) for c in fdef["choices"]],
            widget=forms.CheckboxSelectMultiple,
            **common,
        )
    elif kind == "date":
        field = forms.DateField(
            widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
            **common,
        )
    elif kind == "number":
        field = _NumberField(**common)
    elif kind == "boolean":
        # Tri-state: "not answered" must stay distinguishable from "No".
        widget = forms.NullBooleanSelect()
        widget.choices = [
            ("unknown", "— not answered —"),
            ("true", "Yes"),
            ("false", "No"),
        ]
        field = forms.NullBooleanField(widget=widget, **common)
    else:  # pragma: no cover - validate_definition rejects other types
        raise ValueError(f"Unsupported field type {kind!r}")
    # Shown next to the label: required for completeness, not for saving.
    setattr(field, "completeness_required", required)  # noqa: B010
    setattr(field, "template_type", kind)  # noqa: B010
    return field


class SectionForm(BaseForm):
    """The fields of one template section; subclasses are built per section."""

    section: Mapping[str, Any] = {}

    def values(self) -> dict[str, Any]:
        """Every field of the section, in the JSON shape the services store."""
        values: dict[str, Any] = {}
        for fdef in self.section["fields"]:
            key = fdef["key"]
            value = self.cleaned_data.get(key)
            kind = fdef["type"]
            if kind == "date":
                value = value.isoformat() if value else ""
            elif kind == "multichoice":
                value = list(value or [])
            elif kind == "boolean":
                value = value if isinstance(value, bool) else None
            elif kind == "textarea":
                # Browsers send CRLF line ends; store the text with plain newlines.
                value = (value or "").replace("\r\n", "\n")
            elif kind in {"text", "url", "choice"}:
                value = value or ""
            values[key] = value
        return values


def section_form_class(
    section: Mapping[str, Any], context: Mapping[str, bool]
) -> type[SectionForm]:
    """A form class for ``section`` of a template; ``context`` marks which
    conditionally required fields are required for this model."""
    fields = {
        fdef["key"]: _form_field(
            fdef, required=template_schema.is_required(fdef, context)
        )
        for fdef in section["fields"]
    }
    attrs: dict[str, Any] = {"section": section, **fields}
    return type(f"SectionForm_{section['key']}", (SectionForm,), attrs)


def section_initial(
    section: Mapping[str, Any], values: Mapping[str, Any]
) -> dict[str, Any]:
    """Stored section values as form initial data (dates stay ISO strings)."""
    return {
        fdef["key"]: values[fdef["key"]]
        for fdef in section["fields"]
        if values.get(fdef["key"]) is not None
    }
