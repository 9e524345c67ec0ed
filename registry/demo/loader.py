"""Load the demo through the services, as its personas would, one step at a time.

Every step checks whether its result already exists, so a run interrupted half-way
can be resumed by running the command again; a complete demo is never touched
(``demo_is_loaded``). Service entry points are durable transactions, so nothing here
opens a transaction around them. Models are trained for real, and only for the
versions still to register.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.utils import timezone

from governance import services as governance_services
from governance.choices import RequestState, Role, ValidationOutcome
from governance.models import ReleaseRequest
from registry import digests, services, template_schema
from registry.choices import VersionStatus
from registry.demo import content, training
from registry.models import Document, DocumentTemplate, Model, ModelVersion

DEFAULT_PASSWORD = "modelgov-demo-2026"


@dataclass(frozen=True)
class Persona:
    username: str
    first_name: str
    last_name: str
    role: str

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"


PERSONAS = (
    Persona("dev", "Dana", "Developer", Role.MODEL_DEVELOPER),
    Persona("dev2", "Devon", "Second", Role.MODEL_DEVELOPER),
    Persona("validator", "Vera", "Validator", Role.VALIDATOR),
    Persona("risk", "Rita", "Risk", Role.RISK_OFFICER),
    Persona("auditor", "Audrey", "Auditor", Role.AUDITOR),
    Persona("admin", "Adam", "Admin", Role.ADMINISTRATOR),
    Persona("pipeline", "Training", "Pipeline", Role.SERVICE_ACCOUNT),
)


@dataclass(frozen=True)
class ModelPlan:
    data: dict[str, Any]
    creator: str
    owner: str
    developers: tuple[str, ...]
    review_days: int

    @property
    def slug(self) -> str:
        return str(self.data["slug"])


@dataclass(frozen=True)
class DocumentPlan:
    """A document to write: the builder's ``sections``, or all when None."""

    template_key: str
    author: str
    build: Callable[..., dict[str, dict[str, Any]]]
    sections: tuple[str, ...] | None = None


@dataclass(frozen=True)
class VersionPlan:
    slug: str
    version: str
    description: str
    train: Callable[[Path], training.TrainedVersion]
    submit: bool
    card: Callable[[content.VersionFacts], dict[str, dict[str, Any]]]
    card_author: str
    change: str
    card_sections: tuple[str, ...] | None = None
    documents: tuple[DocumentPlan, ...] = ()
    in_validation: bool = False


MODELS = (
    ModelPlan(content.CREDIT_MODEL, "dev", "dev2", ("dev", "pipeline"), 365),
    ModelPlan(content.MORTGAGE_MODEL, "dev", "dev2", ("dev", "pipeline"), 730),
    ModelPlan(content.FRAUD_MODEL, "admin", "dev2", ("dev2", "pipeline"), 730),
)

CREDIT_CSV = "south_german_credit_decoded.csv"
MORTGAGE_CSV = "hmda_sample.csv"
DEV_DOC = "sr11-7-development"
MATERIALITY = "sr26-2-materiality"
ANNEX_IV = "eu-ai-act-annex-iv"
VALIDATION = "validation-report"


def _credit(c: float) -> Callable[[Path], training.TrainedVersion]:
    return lambda data_dir: training.train_credit(data_dir / CREDIT_CSV, c=c)


def _mortgage(
    learning_rate: float, max_iter: int, leaves: int
) -> Callable[[Path], training.TrainedVersion]:
    return lambda data_dir: training.train_mortgage(
        data_dir / MORTGAGE_CSV,
        learning_rate=learning_rate,
        max_iter=max_iter,
        max_leaf_nodes=leaves,
    )


VERSIONS = (
    VersionPlan(
        slug=content.CREDIT_SLUG,
        version="1.0.0",
        description="First version of the consumer credit scorecard (C = 1.0).",
        train=_credit(1.0),
        submit=True,
        card=content.credit_card,
        card_author="dev",
        change="First version: L2 logistic regression, C = 1.0, cut-off 0.6.",
        documents=(
            DocumentPlan(DEV_DOC, "dev", content.credit_development),
            DocumentPlan(MATERIALITY, "dev", content.credit_materiality),
            DocumentPlan(
                ANNEX_IV,
                "dev",
                content.credit_annex_iv,
                # The declaration of conformity follows validation and approval.
                (
                    "general_description",
                    "development_process",
                    "monitoring_functioning",
                    "performance_metrics",
                    "risk_management",
                    "lifecycle_changes",
                    "standards",
                    "post_market_monitoring",
                    "fria_and_logging",
                ),
            ),
            DocumentPlan(
                VALIDATION,
                "validator",
                content.credit_validation,
                # Work in progress: summary, monitoring, outcomes and conclusion open.
                (
                    "control",
                    "scope_approach",
                    "conceptual_soundness",
                    "developmental_evidence",
                    "fair_lending",
                    "findings_register",
                ),
            ),
        ),
        in_validation=True,
    ),
    VersionPlan(
        slug=content.CREDIT_SLUG,
        version="1.1.0",
        description=(
            "Stronger regularisation (C = 0.3): less-discriminatory-alternative "
            "candidate after the under-25 screening flag of 1.0.0."
        ),
        train=_credit(0.3),
        submit=True,
        card=content.credit_card,
        card_author="dev",
        change="C 1.0 -> 0.3 (less-discriminatory-alternative search).",
        documents=(
            DocumentPlan(
                DEV_DOC,
                "dev",
                content.credit_development,
                (
                    "document_control",
                    "executive_summary",
                    "purpose_scope",
                    "methodology",
                    "data",
                    "developmental_testing",
                ),
            ),
        ),
    ),
    VersionPlan(
        slug=content.CREDIT_SLUG,
        version="1.2.0",
        description="Work in progress: C = 0.1, second LDA candidate.",
        train=_credit(0.1),
        submit=False,
        card=content.credit_card,
        card_author="dev",
        change="C 0.3 -> 0.1 (second less-discriminatory-alternative candidate).",
        card_sections=("details", "intended_use", "metrics", "quantitative_analyses"),
        documents=(
            DocumentPlan(
                DEV_DOC,
                "dev",
                content.credit_development,
                ("document_control", "executive_summary", "methodology"),
            ),
        ),
    ),
    VersionPlan(
        slug=content.MORTGAGE_SLUG,
        version="2.0.0",
        description="Gradient-boosted pre-screening model (learning rate 0.1).",
        train=_mortgage(0.1, 200, 31),
        submit=True,
        card=content.mortgage_card,
        card_author="dev",
        change="First version of the HMDA pre-screening model.",
        documents=(
            DocumentPlan(DEV_DOC, "dev", content.mortgage_development),
            DocumentPlan(MATERIALITY, "dev", content.mortgage_materiality),
            # Complete; the vendor review does not apply to an in-house model.
            DocumentPlan(
                VALIDATION,
                "validator",
                content.mortgage_validation,
                (
                    "control",
                    "executive_summary",
                    "scope_approach",
                    "conceptual_soundness",
                    "developmental_evidence",
                    "ongoing_monitoring",
                    "outcomes_analysis",
                    "fair_lending",
                    "findings_register",
                    "conclusion",
                ),
            ),
        ),
    ),
    VersionPlan(
        slug=content.MORTGAGE_SLUG,
        version="2.1.0",
        description="Work in progress: slower learning rate, smaller trees.",
        train=_mortgage(0.05, 300, 15),
        submit=False,
        card=content.mortgage_card,
        card_author="dev",
        change="Learning rate 0.1 -> 0.05, 300 trees of at most 15 leaves.",
        card_sections=("details", "intended_use", "metrics", "training_data"),
        documents=(
            DocumentPlan(
                DEV_DOC,
                "dev",
                content.mortgage_development,
                ("document_control", "methodology", "developmental_testing"),
            ),
        ),
    ),
    VersionPlan(
        slug=content.FRAUD_SLUG,
        version="4.2.0",
        description=(
            "Vendor release 4.2.0 as received; baseline to come from the parallel "
            "run on the bank's own transactions."
        ),
        train=lambda data_dir: training.fraud_vendor_version("4.2.0"),
        submit=False,
        card=content.fraud_card,
        card_author="dev2",
        change="Vendor release 4.2.0 received; review threshold 700.",
        card_sections=("details", "intended_use", "risk_and_regulatory"),
        documents=(
            DocumentPlan(
                DEV_DOC,
                "dev2",
                content.fraud_development,
                ("document_control", "purpose_scope", "governance"),
            ),
        ),
    ),
)


@dataclass(frozen=True)
class ReleasePlan:
    """A release request the demo takes as far as validation: it then awaits the
    risk officer's signature."""

    slug: str
    version: str
    environments: tuple[str, ...]
    justification: str
    conditions: str


RELEASES = (
    ReleasePlan(
        slug=content.MORTGAGE_SLUG,
        version="2.0.0",
        environments=("production",),
        justification=(
            "Pilot of the pre-screening model in the pilot region: advisory queue "
            "ordering for underwriters."
        ),
        conditions=(
            "Advisory use in the pilot region only; monthly AIR monitoring by race, "
            "sex and age; re-validate before any expansion."
        ),
    ),
)

# States a demo release request has reached once the demo is complete.
_RELEASE_DONE = {
    RequestState.VALIDATED,
    RequestState.APPROVED,
    RequestState.REJECTED,
    RequestState.WITHDRAWN,
    RequestState.EXPIRED,
    RequestState.REVOKED,
}


def _release_request(plan: ReleasePlan) -> ReleaseRequest | None:
    return (
        ReleaseRequest.objects.filter(
            model_version__model__slug=plan.slug, model_version__version=plan.version
        )
        .order_by("created_at", "id")
        .first()
    )


@dataclass
class DemoResult:
    """What a run did: ``loaded`` is False when the demo was already complete."""

    loaded: bool
    password: str
    created_accounts: list[str] = field(default_factory=list)
    pipeline_token: str | None = None
    log: list[str] = field(default_factory=list)


def _users() -> dict[str, Any]:
    User = get_user_model()
    names = [p.username for p in PERSONAS]
    return {u.username: u for u in User.objects.filter(username__in=names)}


def _planned_sections(
    plan_sections: tuple[str, ...] | None, template: DocumentTemplate
) -> list[str]:
    keys = [s["key"] for s in template.definition["sections"]]
    return keys if plan_sections is None else [k for k in keys if k in plan_sections]


def demo_is_loaded() -> bool:
    """Whether every account, model, version, submission and document exists."""
    if set(_users()) != {p.username for p in PERSONAS}:
        return False
    if Model.objects.filter(slug__in=[m.slug for m in MODELS]).count() != len(MODELS):
        return False
    for plan in VERSIONS:
        version = ModelVersion.objects.filter(
            model__slug=plan.slug, version=plan.version
        ).first()
        if version is None or not hasattr(version, "card") or not version.card.content:
            return False
        if plan.submit and version.status == VersionStatus.DRAFT:
            return False
        keys = set(
            Document.objects.filter(model_version=version).values_list(
                "template__key", flat=True
            )
        )
        if {d.template_key for d in plan.documents} - keys:
            return False
    for release in RELEASES:
        request = _release_request(release)
        if request is None or request.state not in _RELEASE_DONE:
            return False
    return True


def _git_commit(base_dir: Path) -> str:
    """The commit of the code that trains the demo models, or '' without git."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=base_dir,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    commit = out.stdout.strip()
    return commit if re.fullmatch(r"[0-9a-f]{7,64}", commit) else ""


class _Loader:
    def __init__(
        self,
        *,
        data_dir: Path,
        artifacts_dir: Path,
        password: str,
        base_url: str,
        code_commit: str,
    ) -> None:
        self.data_dir = data_dir
        self.artifacts_dir = artifacts_dir
        self.result = DemoResult(loaded=True, password=password)
        self.base_url = base_url.rstrip("/")
        self.code_commit = code_commit
        self.today = timezone.localdate()
        self.users: dict[str, Any] = {}
        self.trained: dict[tuple[str, str], training.TrainedVersion] = {}
        self.facts: dict[tuple[str, str], content.VersionFacts] = {}

    def say(self, message: str) -> None:
        self.result.log.append(message)

    # accounts ----------------------------------------------------------------

    def accounts(self) -> None:
        existing = _users()
        # The administrator comes first so that it is the recorded creator of the
        # other accounts; it is itself created by "system".
        for persona in sorted(PERSONAS, key=lambda p: p.username != "admin"):
            user = existing.get(persona.username)
            if user is None:
                user = governance_services.account_create(
                    actor=existing.get("admin"),
                    username=persona.username,
                    role=persona.role,
                    password=None
                    if persona.role == Role.SERVICE_ACCOUNT
                    else self.result.password,
                    email=f"{persona.username}@demo-bank.example",
                    first_name=persona.first_name,
                    last_name=persona.last_name,
                )
                self.result.created_accounts.append(persona.username)
                self.say(f"account {persona.username} ({persona.role})")
                if persona.username == "admin":
                    existing["admin"] = user
            elif not user.groups.filter(name=persona.role).exists():
                raise ValueError(
                    f"An account {persona.username!r} exists without the role "
                    f"{persona.role}; the demo needs its own accounts."
                )
            self.users[persona.username] = user
        if "pipeline" in self.result.created_accounts:
            issued = governance_services.api_token_create(
                actor=self.users["admin"],
                user=self.users["pipeline"],
                name="demo training pipeline",
            )
            self.result.pipeline_token = issued.raw

    # models and versions -------------------------------------------------------

    def models(self) -> None:
        for plan in MODELS:
            if Model.objects.filter(slug=plan.slug).exists():
                continue
            data = dict(plan.data)
            data["owner"] = plan.owner
            data["developers"] = list(plan.developers)
            data["next_review_date"] = self.today + timedelta(days=plan.review_days)
            services.model_create(actor=self.users[plan.creator], data=data)
            self.say(f"model {plan.slug}")

    def _trained(self, plan: VersionPlan) -> training.TrainedVersion:
        key = (plan.slug, plan.version)
        if key not in self.trained:
            self.trained[key] = plan.train(self.data_dir)
            self.say(f"trained {plan.slug} {plan.version}")
        return self.trained[key]

    def _register(self, plan: VersionPlan, model: Model) -> ModelVersion:
        run = self._trained(plan)
        directory = self.artifacts_dir / plan.slug / plan.version
        path, sha = run.save(directory)
        data: dict[str, Any] = {
            "version": plan.version,
            "description": plan.description,
            "artifact_uri": path.resolve().as_uri(),
            "artifact_sha256": sha,
            "code_commit": self.code_commit,
            "feature_pipeline_version": run.feature_pipeline_version,
            "hyperparameters": run.hyperparameters,
            "metrics": run.metrics,
            "input_schema": run.input_schema,
            "protected_attributes": run.protected_attributes,
            "baseline": run.baseline,
        }
        csv = self._training_csv(plan)
        if csv is not None:
            data["training_data_uri"] = csv.resolve().as_uri()
            data["training_data_sha256"] = digests.file_sha256(csv)
        version = services.model_version_register(
            actor=self.users["pipeline"], model=model, data=data
        )
        self.say(f"registered {plan.slug} {plan.version}")
        return version

    def _training_csv(self, plan: VersionPlan) -> Path | None:
        name = {
            content.CREDIT_SLUG: CREDIT_CSV,
            content.MORTGAGE_SLUG: MORTGAGE_CSV,
        }.get(plan.slug)
        return self.data_dir / name if name else None

    def _facts(self, plan: VersionPlan, version: ModelVersion) -> content.VersionFacts:
        key = (plan.slug, plan.version)
        if key not in self.facts:
            self.facts[key] = self._build_facts(plan, version)
        return self.facts[key]

    def _build_facts(
        self, plan: VersionPlan, version: ModelVersion
    ) -> content.VersionFacts:
        model = version.model
        humans = [
            u.get_full_name()
            for u in model.developers.order_by("username")
            if not u.groups.filter(name=Role.SERVICE_ACCOUNT).exists()
        ]
        # The change log of a version lists it and the versions before it.
        history = []
        for earlier in VERSIONS:
            if earlier.slug == plan.slug:
                history.append(
                    f"{self.today.isoformat()} {earlier.version}: {earlier.change}"
                )
                if earlier.version == plan.version:
                    break
        return content.VersionFacts(
            slug=model.slug,
            name=model.name,
            version=version.version,
            date=self.today.isoformat(),
            developers=", ".join(humans),
            owner=model.owner.get_full_name() if model.owner else "",
            inventory_url=f"{self.base_url}/registry/{model.slug}/",
            artifact_sha256=version.artifact_sha256,
            training_data_sha256=version.training_data_sha256,
            code_commit=version.code_commit,
            hyperparameters=version.hyperparameters,
            metrics=version.metrics,
            facts=self._trained(plan).facts,
            next_review=(model.next_review_date or self.today).isoformat(),
            submitted=plan.submit,
            in_validation=plan.in_validation,
            change=plan.change,
            history=history,
        )

    def versions(self) -> None:
        for plan in VERSIONS:
            model = Model.objects.get(slug=plan.slug)
            version = ModelVersion.objects.filter(
                model=model, version=plan.version
            ).first()
            if version is None:
                version = self._register(plan, model)
            self._card(plan, version)
            self._documents(plan, version, before_submit=True)
            if plan.submit and version.status == VersionStatus.DRAFT:
                version = services.model_version_submit(
                    actor=self.users["dev"], version=version
                )
                self.say(f"submitted {plan.slug} {plan.version}")
            self._documents(plan, version, before_submit=False)

    # release requests ----------------------------------------------------------

    def releases(self) -> None:
        """Request, submit and validate each planned release, resuming where a
        previous run stopped; the validator signs with the demo password."""
        for plan in RELEASES:
            request = _release_request(plan)
            dev, validator = self.users["dev"], self.users["validator"]
            if request is None:
                version = ModelVersion.objects.get(
                    model__slug=plan.slug, version=plan.version
                )
                request = governance_services.release_request_create(
                    actor=dev,
                    version=version,
                    environments=list(plan.environments),
                    justification=plan.justification,
                )
            if request.state == RequestState.DRAFT:
                request = governance_services.release_request_submit(
                    actor=dev, request=request
                )
            if request.state == RequestState.SUBMITTED:
                request = governance_services.release_request_start_validation(
                    actor=validator, request=request
                )
            if request.state == RequestState.IN_VALIDATION:
                request = governance_services.release_request_record_validation(
                    actor=validator,
                    request=request,
                    outcome=ValidationOutcome.APPROVE_WITH_CONDITIONS,
                    password=self.result.password,
                    conditions=plan.conditions,
                    comment="Validation report complete; see its conclusion.",
                )
                self.say(
                    f"release RR-{request.pk} {plan.slug} {plan.version} → "
                    f"{', '.join(plan.environments)}: {request.state}"
                )

    # documentation -------------------------------------------------------------

    def _card(self, plan: VersionPlan, version: ModelVersion) -> None:
        """Write the card: whole at once when it is complete, else by section."""
        card = version.card
        sections = _planned_sections(plan.card_sections, card.template)
        missing = [k for k in sections if not card.content.get(k)]
        if not missing:
            return
        author = self.users[plan.card_author]
        built = plan.card(self._facts(plan, version))
        if not card.content and plan.card_sections is None:
            card = services.model_card_replace(actor=author, card=card, content=built)
        else:
            for key in missing:
                card = services.model_card_section_update(
                    actor=author, card=card, section_key=key, values=built[key]
                )
        self.say(
            f"card {plan.slug} {plan.version}: {card.completeness().percent} % complete"
        )

    def _documents(
        self, plan: VersionPlan, version: ModelVersion, *, before_submit: bool
    ) -> None:
        for doc in plan.documents:
            # Development documentation is written before submission; assessments
            # and the validation report follow it.
            if (doc.template_key == DEV_DOC) != before_submit:
                continue
            template = (
                DocumentTemplate.objects.filter(key=doc.template_key, is_active=True)
                .order_by("-version")
                .first()
            )
            if template is None:
                raise LookupError(
                    f"Template {doc.template_key} is missing; run migrate first."
                )
            author = self.users[doc.author]
            document = Document.objects.filter(
                model_version=version, template__key=doc.template_key
            ).first()
            if document is None:
                document = services.document_create(
                    actor=author, version=version, template=template
                )
            sections = _planned_sections(doc.sections, template)
            if all(document.content.get(k) for k in sections):
                continue
            facts = self._facts(plan, version)
            built = (
                doc.build(facts, author.get_full_name())
                if doc.template_key == VALIDATION
                else doc.build(facts)
            )
            filled = 0
            for key in sections:
                if not document.content.get(key):
                    document = services.document_section_update(
                        actor=author,
                        document=document,
                        section_key=key,
                        values=built[key],
                    )
                    filled += 1
            ratio = template_schema.completeness(
                template.definition,
                document.content,
                version.model.template_context,
            ).percent
            self.say(
                f"{doc.template_key} {plan.slug} {plan.version}: {filled} sections, "
                f"{ratio} % complete"
            )


def demo_load(
    *,
    data_dir: Path,
    artifacts_dir: Path,
    password: str,
    base_url: str = "http://127.0.0.1:8000",
    code_dir: Path | None = None,
) -> DemoResult:
    """Create the demo accounts, models, versions and documents (see the module doc).

    Returns at once, with ``loaded`` False, when the demo is already complete.
    Raises ValidationError (for example a password the validators refuse) or
    ValueError when a demo username is taken by an account with another role.
    """
    if demo_is_loaded():
        return DemoResult(loaded=False, password=password)
    loader = _Loader(
        data_dir=data_dir,
        artifacts_dir=artifacts_dir,
        password=password,
        base_url=base_url,
        code_commit=_git_commit(code_dir) if code_dir else "",
    )
    loader.accounts()
    loader.models()
    loader.versions()
    loader.releases()
    return loader.result


def demo_summary() -> dict[str, Any]:
    """Counts of the demo's objects, for the closing message."""
    slugs = [m.slug for m in MODELS]
    versions = ModelVersion.objects.filter(model__slug__in=slugs)
    return {
        "models": Model.objects.filter(slug__in=slugs).count(),
        "versions": versions.count(),
        "submitted": versions.filter(status=VersionStatus.SUBMITTED).count(),
        "draft": versions.filter(status=VersionStatus.DRAFT).count(),
        "documents": Document.objects.filter(model_version__in=versions).count(),
        "release_requests": ReleaseRequest.objects.filter(
            model_version__in=versions
        ).count(),
    }
