"""Whatever text a values file holds, it lands in the manifests as that text: never as YAML
structure (no extra key, document or anchor), and the printed YAML reads back the same."""

from __future__ import annotations

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from cli.install.manifests import render_kubernetes
from reconciler.yaml_text import dump_yaml
from schemas import ServerConfig, load_toml
from schemas.install import IngressValues, InstallValues, StateValues

text = st.text(min_size=1, max_size=40)


@settings(max_examples=60, deadline=None)
@given(
    image=text,
    host=text,
    annotations=st.dictionaries(text, st.text(max_size=60), max_size=3),
    url=text,
    template=st.text(max_size=60),
)
def test_values_are_data_never_yaml(
    image: str, host: str, annotations: dict[str, str], url: str, template: str
) -> None:
    values = InstallValues(
        image=image,
        ingress=IngressValues(enabled=True, host=host, annotations=annotations),
        state=StateValues(url=url),
    )
    values.apps.url_template = template
    objects = render_kubernetes(values)
    kinds = [o["kind"] for o in objects]
    assert kinds.count("Ingress") == 1 and len(kinds) == 11
    ingress = next(o for o in objects if o["kind"] == "Ingress")
    assert ingress["spec"]["rules"][0]["host"] == host
    assert ingress["metadata"].get("annotations", {}) == annotations
    deployment = next(o for o in objects if o["kind"] == "Deployment")
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == image
    config_map = next(o for o in objects if o["kind"] == "ConfigMap")
    config = load_toml(config_map["data"]["config.toml"], ServerConfig)
    assert (config.app_url_template, config.state.url) == (template, url)
    assert list(yaml.safe_load_all(dump_yaml(objects, literal_blocks=True))) == objects
