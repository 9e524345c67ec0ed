"""Admin: the registry is read-only here (edit through the UI or API, which audit);
administrators add organisation templates, which go through the service."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from simple_history.admin import SimpleHistoryAdmin

from governance import inputs
from governance.admin_mixins import ReadOnlyAdminMixin
from registry import services, template_schema
from registry.models import Document, DocumentTemplate, Model, ModelCard, ModelVersion


@admin.register(Model)
class ModelAdmin(ReadOnlyAdminMixin, SimpleHistoryAdmin):
    list_display = [
        "name",
        "slug",
        "risk_tier",
        "status",
        "business_unit",
        "next_review_date",
    ]
    list_filter = ["risk_tier", "status", "business_unit", "is_vendor"]
    search_fields = ["name", "slug", "purpose"]


@admin.register(ModelVersion)
class ModelVersionAdmin(ReadOnlyAdminMixin, SimpleHistoryAdmin):
    list_display = [
        "model",
        "version",
        "status",
        "artifact_sha256",
        "content_digest",
        "created_at",
    ]
    list_filter = ["status"]
    search_fields = ["model__slug", "version", "artifact_sha256"]


@admin.register(ModelCard)
class ModelCardAdmin(ReadOnlyAdminMixin, SimpleHistoryAdmin):
    list_display = ["model_version", "updated_by", "updated_at"]


@admin.register(Document)
class DocumentAdmin(ReadOnlyAdminMixin, SimpleHistoryAdmin):
    list_display = ["title", "model_version", "template", "updated_by", "updated_at"]
    list_filter = ["template__kind"]


class TemplateAddForm(forms.ModelForm):
    definition_json = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 30, "cols": 100}),
        help_text="The template definition as JSON (see docs/user-guide/templates.md).",
    )

    class Meta:
        model = DocumentTemplate
        fields: list[str] = []

    def clean_definition_json(self) -> Any:
        try:
            value = inputs.loads(self.cleaned_data["definition_json"])
        except inputs.InvalidInput as exc:
            raise ValidationError(
                [f"{field}: {' '.join(m)}" for field, m in exc.errors.items()]
            ) from exc
        if not isinstance(value, dict):
            raise ValidationError("The definition must be a JSON object.")
        try:
            template_schema.validate_definition(value)
        except template_schema.SchemaError as exc:
            raise ValidationError(
                [f"{k}: {' '.join(v)}" for k, v in exc.errors.items()]
            ) from exc
        latest = (
            DocumentTemplate.objects.filter(key=value["key"])
            .order_by("-version")
            .first()
        )
        if latest is not None and value["version"] <= latest.version:
            raise ValidationError(
                f"Template {value['key']} is at version {latest.version}; use a higher one."
            )
        return value


@admin.register(DocumentTemplate)
class DocumentTemplateAdmin(SimpleHistoryAdmin):
    list_display = [
        "key",
        "version",
        "name",
        "kind",
        "author_role",
        "is_builtin",
        "is_active",
    ]
    list_filter = ["kind", "is_builtin", "is_active"]
    search_fields = ["key", "name"]

    def get_form(self, request: HttpRequest, obj: Any = None, **kwargs: Any) -> Any:
        if obj is None:
            kwargs["form"] = TemplateAddForm
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return ["definition_json"]
        return super().get_fields(request, obj)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return []
        return [f.name for f in self.model._meta.fields]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(
        self, request: HttpRequest, obj: Any, form: Any, change: bool
    ) -> None:
        if change:
            return
        created = services.template_create(
            actor=request.user, definition=form.cleaned_data["definition_json"]
        )
        obj.pk = created.pk
        obj.refresh_from_db()
