#!/usr/bin/env python3
"""Cross-checks between the files under deploy/ and the source they describe, for deploy/check.

Schema validators see one file at a time; what they cannot see is a dashboard that queries a
metric rapsheet does not export, a Deployment that forgets to mount a ConfigMap key, or a
ServiceMonitor that selects no Service. Each subcommand prints what it checked and exits 1 on
the first kind of mismatch it finds (after reporting all of that kind).

Usage: consistency.py metrics | grafana | grafana-rules OUTPUT | kubernetes | configmap-tree DIR
       consistency.py blocks MARKDOWN LANGUAGE DIR
"""

import json
import re
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")
# What Prometheus adds itself, so that rapsheet does not export it.
SCRAPE_SERIES = {"up"}


def fail(problems):
    for problem in problems:
        print(f"  {problem}", file=sys.stderr)
    sys.exit(1)


def exported_metrics():
    """The metric names src/metrics.rs registers, and which of them are histograms."""
    source = (REPO / "src" / "metrics.rs").read_text(encoding="utf-8")
    names = set(re.findall(r'"(rapsheet_[a-z0-9_]+)"', source))
    histograms = set(re.findall(r'histogram\(\s*"(rapsheet_[a-z0-9_]+)"', source))
    if not names:
        fail(["src/metrics.rs registers no rapsheet_* metric: has it moved?"])
    return names, histograms


def series_names(expr):
    """The rapsheet_* series an expression reads, with histogram suffixes kept."""
    return set(re.findall(r"\b(rapsheet_[a-z0-9_]+)", expr))


def unknown_series(exprs, names, histograms):
    unknown = set()
    for expr in exprs:
        for series in series_names(expr):
            base = series
            for suffix in HISTOGRAM_SUFFIXES:
                if series.endswith(suffix) and series[: -len(suffix)] in histograms:
                    base = series[: -len(suffix)]
            if base not in names:
                unknown.add(series)
    return unknown


def dashboard_exprs(dashboard):
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            yield panel, target


def alert_exprs():
    rules = yaml.safe_load((DEPLOY / "prometheus" / "rapsheet-alerts.yml").read_text())
    return [rule["expr"] for group in rules["groups"] for rule in group["rules"]]


def check_metrics():
    """Every metric the alerts and the dashboard read is one that rapsheet exports."""
    names, histograms = exported_metrics()
    dashboard = json.loads((DEPLOY / "grafana" / "rapsheet.json").read_text())
    exprs = alert_exprs() + [target["expr"] for _, target in dashboard_exprs(dashboard)]
    unknown = unknown_series(exprs, names, histograms)
    if unknown:
        fail([f"not exported by src/metrics.rs: {name}" for name in sorted(unknown)])

    used = set()
    for expr in exprs:
        used |= {re.sub(r"_(bucket|sum|count)$", "", s) for s in series_names(expr)}
    unused = sorted(names - used)
    print(f"  {len(names)} exported metrics, all names used by alerts and dashboard exist")
    if unused:
        print(f"  exported but shown nowhere: {', '.join(unused)}")


def check_grafana():
    """The dashboard is importable: a uid, a Prometheus data source variable used by every
    query, unique panel ids, and no undefined variable. (A metric added to rapsheet and not yet
    on a panel is only reported, by `metrics`.)"""
    dashboard = json.loads((DEPLOY / "grafana" / "rapsheet.json").read_text())
    problems = []
    if not dashboard.get("uid"):
        problems.append("no uid")
    variables = {v["name"]: v for v in dashboard.get("templating", {}).get("list", [])}
    source = variables.get("datasource")
    if not source or source.get("type") != "datasource" or source.get("query") != "prometheus":
        problems.append("no `datasource` variable of type datasource for prometheus")

    ids = [panel["id"] for panel in dashboard["panels"]]
    if len(ids) != len(set(ids)):
        problems.append("panel ids repeat")
    for panel, target in dashboard_exprs(dashboard):
        for holder in (panel, target):
            uid = holder.get("datasource", {}).get("uid")
            if uid != "${datasource}":
                problems.append(f"panel `{panel['title']}` does not use ${{datasource}}: {uid}")
        used_vars = set(re.findall(r"\$(\w+)", target["expr"])) - {"__rate_interval", "__range"}
        missing = used_vars - set(variables)
        if missing:
            problems.append(f"panel `{panel['title']}` uses undefined {sorted(missing)}")

    if problems:
        fail(problems)
    panels = sum(1 for p in dashboard["panels"] if p["type"] != "row")
    print(f"  uid {dashboard['uid']}, {panels} panels, each query on ${{datasource}}")


def write_grafana_rules(output):
    """Turns every dashboard query into a recording rule, so that promtool parses its PromQL.
    Grafana's variables become plain values first."""
    dashboard = json.loads((DEPLOY / "grafana" / "rapsheet.json").read_text())
    values = {"$__rate_interval": "5m", "$__range": "1h", "$job": "rapsheet",
              "$instance": ".*", "$tarpit_budget": "2000"}
    rules = []
    for i, (panel, target) in enumerate(dashboard_exprs(dashboard)):
        expr = target["expr"]
        for name, value in values.items():
            expr = expr.replace(name, value)
        rules.append({"record": f"dashboard:panel_{panel['id']}_{target['refId']}:{i}", "expr": expr})
    Path(output).write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))


def kubernetes_docs(name):
    return [doc for doc in yaml.safe_load_all((DEPLOY / "kubernetes" / name).read_text()) if doc]


def check_kubernetes():
    """The manifests agree with each other and with rapsheet.yaml."""
    problems = []
    configmap = kubernetes_docs("configmap.yaml")[0]
    deployment = kubernetes_docs("deployment.yaml")[0]
    services = kubernetes_docs("service.yaml")
    monitor = kubernetes_docs("servicemonitor.yaml")[0]
    kustomization = kubernetes_docs("kustomization.yaml")[0]

    for resource in kustomization["resources"]:
        if not (DEPLOY / "kubernetes" / resource).is_file():
            problems.append(f"kustomization names a missing file: {resource}")

    pod = deployment["spec"]["template"]["spec"]
    volume = next(v for v in pod["volumes"] if v.get("configMap"))
    if volume["configMap"]["name"] != configmap["metadata"]["name"]:
        problems.append("the Deployment mounts another ConfigMap than configmap.yaml defines")
    items = {item["key"]: item["path"] for item in volume["configMap"].get("items", [])}
    keys = set(configmap["data"])
    for key in sorted(keys - set(items)):
        problems.append(f"ConfigMap key not mounted by the Deployment: {key}")
    for key in sorted(set(items) - keys):
        problems.append(f"the Deployment mounts a key the ConfigMap lacks: {key}")

    container = pod["containers"][0]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    server = yaml.safe_load(configmap["data"]["rapsheet.yaml"])
    listen_port = int(server["listen"].rsplit(":", 1)[1])
    metrics_port = int(server["metrics"]["listen"].rsplit(":", 1)[1])
    if ports.get("http") != listen_port:
        problems.append(f"port http is {ports.get('http')}, rapsheet.yaml listens on {listen_port}")
    if ports.get("metrics") != metrics_port:
        problems.append(f"port metrics is {ports.get('metrics')}, metrics.listen is {metrics_port}")
    if not server["metrics"]["listen"].startswith("0.0.0.0:"):
        problems.append("metrics.listen is not on all interfaces: probes and scrapes cannot reach it")
    for probe in ("readinessProbe", "livenessProbe"):
        port = container[probe]["httpGet"]["port"]
        if port not in ports:
            problems.append(f"{probe} uses an undeclared port: {port}")

    labels = deployment["spec"]["template"]["metadata"]["labels"]
    selector = monitor["spec"]["selector"]["matchLabels"]
    selected = [s for s in services
                if all(s["metadata"]["labels"].get(k) == v for k, v in selector.items())]
    if len(selected) != 1:
        problems.append(f"the ServiceMonitor selects {len(selected)} Services, not one")
    else:
        port_names = {p["name"] for p in selected[0]["spec"]["ports"]}
        for endpoint in monitor["spec"]["endpoints"]:
            if endpoint["port"] not in port_names:
                problems.append(f"the ServiceMonitor scrapes a port the Service lacks: {endpoint['port']}")
        job = selected[0]["metadata"]["labels"].get(monitor["spec"].get("jobLabel", ""))
        if job != "rapsheet":
            problems.append(f"scrape job would be `{job}`, the alerts and dashboard expect rapsheet")
    for service in services:
        if any(labels.get(k) != v for k, v in service["spec"]["selector"].items()):
            problems.append(f"Service {service['metadata']['name']} selects no rapsheet pod")
        for port in service["spec"]["ports"]:
            if port["targetPort"] not in ports:
                problems.append(f"Service {service['metadata']['name']} targets undeclared port {port['targetPort']}")
    if problems:
        fail(problems)
    print(f"  {len(keys)} ConfigMap keys mounted, ports {ports} agree with rapsheet.yaml, "
          "ServiceMonitor selects rapsheet-metrics as job rapsheet")


def configmap_tree(directory):
    """Lays out the ConfigMap as the pod sees it, for `rapsheet check`."""
    configmap = kubernetes_docs("configmap.yaml")[0]
    deployment = kubernetes_docs("deployment.yaml")[0]
    volume = next(v for v in deployment["spec"]["template"]["spec"]["volumes"] if v.get("configMap"))
    for item in volume["configMap"]["items"]:
        path = Path(directory) / item["path"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(configmap["data"][item["key"]], encoding="utf-8")


def markdown_blocks(markdown, language, directory):
    """Writes each fenced block of `language` in `markdown` to DIR/1, DIR/2, ..., and prints
    how many, so that the examples in a guide can be run through the real tools."""
    text = Path(markdown).read_text(encoding="utf-8")
    blocks = re.findall(rf"^ *```{language}\n(.*?)^ *```$", text, flags=re.S | re.M)
    Path(directory).mkdir(parents=True, exist_ok=True)
    for number, block in enumerate(blocks, start=1):
        (Path(directory) / str(number)).write_text(block, encoding="utf-8")
    print(len(blocks))


def main():
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    if command == "metrics":
        check_metrics()
    elif command == "grafana":
        check_grafana()
    elif command == "grafana-rules" and len(sys.argv) == 3:
        write_grafana_rules(sys.argv[2])
    elif command == "kubernetes":
        check_kubernetes()
    elif command == "configmap-tree" and len(sys.argv) == 3:
        configmap_tree(sys.argv[2])
    elif command == "blocks" and len(sys.argv) == 5:
        markdown_blocks(*sys.argv[2:])
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
