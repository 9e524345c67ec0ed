"""Forms of the approval-workflow pages. They parse input only; every rule
(separation of duties, states, the password check) is enforced by the services."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model

from governance.choices import FindingSeverity, ValidationOutcome


def _password_field() -> forms.CharField:
    # Never rendered back with its value (render_value=False), never stored.
    return forms.CharField(
        label="Your password",
        strip=False,
        widget=forms.PasswordInput(
            attrs={"autocomplete": "current-password"}, render_value=False
        ),
        help_text="Re-enter your password to apply your electronic signature.",
    )


class ReleaseRequestCreateForm(forms.Form):
    label_suffix = ""

    environments = forms.MultipleChoiceField(
        widget=forms.CheckboxSelectMultiple,
        help_text="Where the version is to be deployed.",
    )
    justification = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4}),
        required=False,
        help_text="Why this version should be released, for the validator and "
        "the approvers.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["environments"]
        field.choices = [(e, e) for e in settings.MODELGOV_ENVIRONMENTS]  # type: ignore[attr-defined]


class SignatureForm(forms.Form):
    """Approve, reject or sign for the committee: password plus comment."""

    label_suffix = ""

    password = _password_field()
    comment = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        help_text="Recorded with your signature.",
    )


class RejectForm(SignatureForm):
    comment = forms.CharField(
        label="Reason",
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Why the release is rejected; recorded with your signature.",
    )


class ValidationRecordForm(forms.Form):
    label_suffix = ""

    outcome = forms.ChoiceField(
        choices=ValidationOutcome.choices, widget=forms.RadioSelect
    )
    conditions = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        help_text="Required when approving with conditions.",
    )
    comment = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)
    password = _password_field()


class RevokeForm(forms.Form):
    label_suffix = ""

    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="The gate denies this release at once; the reason is recorded.",
    )


class FindingRaiseForm(forms.Form):
    label_suffix = ""

    version = forms.ChoiceField(label="Model version")
    severity = forms.ChoiceField(choices=FindingSeverity.choices)
    title = forms.CharField(max_length=300)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}))
    owner = forms.ModelChoiceField(
        queryset=get_user_model().objects.none(),
        required=False,
        help_text="Who remediates it, usually a developer of the model.",
    )
    due_date = forms.DateField(
        required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    sr_section = forms.CharField(
        label="SR 11-7 section",
        max_length=100,
        required=False,
        help_text="For example “§V.1(1)”.",
    )

    def __init__(
        self, *args: Any, versions: list[tuple[str, str]], **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["version"].choices = [("", "—"), *versions]  # type: ignore[attr-defined]
        owner: Any = self.fields["owner"]
        owner.queryset = (
            get_user_model()
            .objects.filter(is_active=True, groups__name="model_developer")
            .order_by("username")
        )


class RemediationForm(forms.Form):
    label_suffix = ""

    remediation = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}))


class FindingCloseForm(forms.Form):
    label_suffix = ""

    evidence = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="What shows the finding is remediated.",
    )
