"""The status pages as their readers see them: each at the sandbox's `/pages/<id>`, and an
index of them at `/`. Read-only, refreshing themselves, every text escaped. Components are
listed with their groups; each incident shows its stage (investigating, monitoring, ...),
and each update whether its subscribers were notified, which a real page shows only in its
emails."""

from __future__ import annotations

from datetime import datetime, timedelta
from html import escape

from flask import Blueprint, Response
from werkzeug.exceptions import NotFound

from sandbox.base import now
from sandbox.state import SandboxState
from sandbox.statuspage_state import COMPONENT_STATUSES, Component, Incident, IncidentUpdate, Page, StatuspageState

REFRESH_SECONDS = 2
RECENT = timedelta(days=7)
RECENT_LIMIT = 10
# Statuspage's labels: under_maintenance -> Under Maintenance.
STATUS_LABELS = {status: status.replace("_", " ").title() for status in COMPONENT_STATUSES}

_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 46rem; margin: 2rem auto; color: #222; }
.banner { padding: 1rem; color: #fff; border-radius: 4px; font-weight: bold; }
ul.components { list-style: none; padding: 0; border: 1px solid #ddd; border-radius: 4px; }
ul.components li { display: flex; justify-content: space-between; padding: .75rem 1rem;
  border-top: 1px solid #eee; }
ul.components li:first-child { border-top: none; }
ul.components li.group { font-weight: bold; background: #f7f7f7; }
ul.components li.member { padding-left: 2rem; }
.stage { font-size: .75em; text-transform: uppercase; padding: .1rem .4rem; border-radius: 3px;
  background: #eee; margin-left: .5rem; vertical-align: middle; }
.stage-monitoring { background: #d6eaf8; } .stage-resolved { background: #d5f5e3; }
.notified { color: #777; font-size: .8em; display: block; }
.incident { border-left: 4px solid #999; padding: .25rem 1rem; margin: 1rem 0; }
.incident .updates { list-style: none; padding: 0; }
.incident time, .muted { color: #777; font-size: .85em; }
.status-operational { --c: #2fcc66; } .status-under_maintenance { --c: #3498db; }
.status-degraded_performance { --c: #f1c40f; } .status-partial_outage { --c: #e67e22; }
.status-major_outage { --c: #e74c3c; }
.banner[class*=status-] { background: var(--c); }
ul.components li[class*=status-] .status { color: var(--c); font-weight: bold; }
.impact-none { border-color: #999; } .impact-minor { border-color: #f1c40f; }
.impact-major { border-color: #e67e22; } .impact-critical { border-color: #e74c3c; }
"""


def _time(moment: datetime) -> str:
    return f'<time datetime="{moment.isoformat()}">{moment.strftime("%b %d, %H:%M:%S UTC")}</time>'


def _notified(update: IncidentUpdate) -> str:
    said = "subscribers notified" if update.deliver_notifications else "subscribers not notified"
    return f'<span class="notified">{said}</span>'


def _incident(state: StatuspageState, incident: Incident) -> str:
    affected = ", ".join(escape(state.components[c].name) for c in incident.component_ids)
    updates = "".join(f'<li class="update"><strong>{escape(u.status.capitalize())}</strong> - {escape(u.body)} '
                      f"{_time(u.created_at)}{_notified(u)}</li>" for u in reversed(incident.updates))
    stage = escape(incident.status)
    return (
        f'<div class="incident impact-{escape(incident.impact)}" id="incident-{escape(incident.id)}">'
        f'<h3>{escape(incident.name)}<span class="stage stage-{stage}">{stage.capitalize()}</span></h3>'
        + (f'<p class="muted">This incident affects: {affected}</p>' if affected else "")
        + f'<ul class="updates">{updates}</ul></div>'
    )


def _row(state: StatuspageState, component: Component) -> str:
    kind = " group" if component.group else " member" if component.group_id else ""
    status = state.status_of(component)
    return (f'<li class="component{kind} status-{escape(status)}"><span class="name">{escape(component.name)}</span>'
            f'<span class="status">{escape(STATUS_LABELS[status])}</span></li>')


def _headline(state: StatuspageState, page: Page) -> tuple[str, str]:
    """(the page's worst component status, its banner text)."""
    worst = max((c.status for c in state.page_components(page.id)), key=COMPONENT_STATUSES.index,
                default="operational")
    return worst, "All Systems Operational" if worst == "operational" else STATUS_LABELS[worst]


def _page(state: StatuspageState, page: Page, moment: datetime) -> str:
    components = state.page_components(page.id)
    worst, headline = _headline(state, page)
    # Ungrouped components and groups in page order, each group followed by its members.
    rows = "".join(_row(state, c) + "".join(_row(state, m) for m in components if m.group_id == c.id)
                   for c in components if c.group_id is None)
    incidents = state.page_incidents(page.id)
    recent = [i for i in incidents if i.resolved_at and moment - i.resolved_at <= RECENT][:RECENT_LIMIT]
    active = "".join(_incident(state, i) for i in incidents if i.status != "resolved")
    resolved = "".join(_incident(state, i) for i in recent)
    return (
        f'<section class="page" id="page-{escape(page.id)}"><h1>{escape(page.name)}</h1>'
        f'<div class="banner status-{escape(worst)}">{escape(headline)}</div>'
        f'<ul class="components">{rows}</ul>'
        "<h2>Active incidents</h2>"
        + (active or '<p class="muted">No active incidents.</p>')
        + "<h2>Recently resolved</h2>"
        + (resolved or '<p class="muted">Nothing resolved in the last 7 days.</p>')
        + "</section>"
    )


def _document(title: str, body: str) -> str:
    return (
        '<!doctype html><html><head><meta charset="utf-8">'
        f'<meta http-equiv="refresh" content="{REFRESH_SECONDS}">'
        f"<title>{escape(title)} (pagerstatus sandbox)</title><style>{_STYLE}</style></head>"
        f'<body>{body}<p class="muted">pagerstatus sandbox - refreshes every {REFRESH_SECONDS} s</p>'
        "</body></html>"
    )


def _index_row(state: StatuspageState, page: Page) -> str:
    worst, headline = _headline(state, page)
    return (f'<li class="component status-{escape(worst)}"><a class="name" href="/pages/{escape(page.id)}">'
            f'{escape(page.name)}</a><span class="status">{escape(headline)}</span></li>')


def render_index(state: StatuspageState) -> str:
    """Every page, linked, with its banner."""
    rows = "".join(_index_row(state, page) for page in sorted(state.pages.values(), key=lambda p: p.id))
    body = f'<h1>Status pages</h1><ul class="components pages">{rows}</ul>' if rows else (
        '<p class="muted">No status page yet: create one with POST /_sandbox/statuspage/pages, '
        'or seed the demo with POST /_sandbox/reset {"seed": "demo"}.</p>'
    )
    return _document("Status pages", body)


def render(state: StatuspageState, page_id: str) -> str:
    """One page; NotFound for a page the sandbox does not have."""
    page = state.pages.get(page_id)
    if page is None:
        raise NotFound(f"no status page {page_id!r}")
    return _document(page.name, '<p class="muted"><a href="/">All status pages</a></p>' + _page(state, page, now()))


def create_blueprint(state: SandboxState) -> Blueprint:
    blueprint = Blueprint("page", __name__)

    @blueprint.get("/")
    def index() -> Response:
        return Response(render_index(state.statuspage), mimetype="text/html")

    @blueprint.get("/pages/<page_id>")
    def status_page(page_id: str) -> Response:
        return Response(render(state.statuspage, page_id), mimetype="text/html")

    return blueprint
