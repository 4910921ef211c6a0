"""The client-side checker: connects to any MCP server the way ChatGPT does and reports each step.

One module per stage of ChatGPT's connection flow: ``transport`` (the URL, Streamable HTTP and
legacy SSE), ``paths`` and ``sessions`` (redirects on protocol paths, session loss),
``discovery`` (the 401, RFC 9728 and RFC 8414 metadata), ``oauth`` (registration, authorization
with PKCE, token, refresh, audience, step-up), ``linking`` (what ChatGPT's linking does beyond a
plain client: metadata documents, its redirect URIs, no scope on reconnect), ``tools`` (the tool
surface and the search/fetch contract). ``client`` is the mechanics of the doctor's conformant
OAuth client, ``bearer`` puts its token on MCP requests, ``firewall`` tells bot rules apart.
``report`` holds the check catalog and the result model; ``runner`` runs the stages.
"""

from bridgehead.doctor.browser import Browser, RedirectCatcher, SystemBrowser
from bridgehead.doctor.probe import AuthMode, ClientAuth, DoctorOptions, Profile
from bridgehead.doctor.report import CATALOG, CheckResult, CheckSpec, Report, Status, render
from bridgehead.doctor.runner import diagnose

__all__ = [
    "CATALOG",
    "AuthMode",
    "Browser",
    "CheckResult",
    "CheckSpec",
    "ClientAuth",
    "DoctorOptions",
    "Profile",
    "RedirectCatcher",
    "Report",
    "Status",
    "SystemBrowser",
    "diagnose",
    "render",
]
