"""A schema-only Terraform provider: it answers Terraform with a provider's published schema, so
the real `terraform init`, `validate` and `test` (with `mock_provider`) run offline.

    terraform-provider-google_v6.50.0  ->  python provider.py SCHEMA.json

It speaks Terraform's plugin protocol 6 through the `tf` package (its go-plugin handshake and
gRPC server; it needs protobuf < 6, so it runs from its own tools environment, see
tests/terraform/tfcli.py). What it does, beyond serving the schema:

- It refuses a configured value for a computed-only attribute, as the real providers do
  ("Value for unconfigurable attribute"): Terraform itself leaves that check to the provider.
- It plans nothing and applies nothing: `terraform test` runs against `mock_provider` blocks.

The schema file holds `resource` and `data` (as `terraform providers schema -json` prints them
for one provider) and may hold `provider_block`, the schema of the provider block itself.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import tf.provider
from tf.gen import tfplugin_pb2 as pb
from tf.gen import tfplugin_pb2_grpc as rpc
from tf.runner import run_provider
from tf.utils import Diagnostics, read_dynamic_value

NESTING = {
    "single": pb.Schema.NestedBlock.SINGLE,
    "list": pb.Schema.NestedBlock.LIST,
    "set": pb.Schema.NestedBlock.SET,
    "map": pb.Schema.NestedBlock.MAP,
    "group": pb.Schema.NestedBlock.GROUP,
}
OBJECT_NESTING = {
    "single": pb.Schema.Object.SINGLE,
    "list": pb.Schema.Object.LIST,
    "set": pb.Schema.Object.SET,
    "map": pb.Schema.Object.MAP,
}


def _attribute(name: str, spec: dict[str, Any]) -> pb.Schema.Attribute:
    attribute = pb.Schema.Attribute(
        name=name,
        description=spec.get("description", ""),
        required=bool(spec.get("required")),
        optional=bool(spec.get("optional")),
        computed=bool(spec.get("computed")),
        sensitive=bool(spec.get("sensitive")),
        deprecated=bool(spec.get("deprecated")),
    )
    if "nested_type" in spec:
        nested = spec["nested_type"]
        attribute.nested_type.CopyFrom(
            pb.Schema.Object(
                attributes=[_attribute(n, s) for n, s in nested.get("attributes", {}).items()],
                nesting=OBJECT_NESTING[nested.get("nesting_mode", "single")],
            )
        )
    else:
        attribute.type = json.dumps(spec["type"]).encode()
    return attribute


def block_pb(block: dict[str, Any]) -> pb.Schema.Block:
    return pb.Schema.Block(
        attributes=[_attribute(n, s) for n, s in block.get("attributes", {}).items()],
        block_types=[
            pb.Schema.NestedBlock(
                type_name=name,
                block=block_pb(nested["block"]),
                nesting=NESTING[nested["nesting_mode"]],
                min_items=nested.get("min_items", 0),
                max_items=nested.get("max_items", 0),
            )
            for name, nested in block.get("block_types", {}).items()
        ],
    )


def schema_pb(entry: dict[str, Any]) -> pb.Schema:
    return pb.Schema(version=entry.get("version", 0), block=block_pb(entry["block"]))


def unconfigurable(block: dict[str, Any], config: Any, path: str = "") -> list[str]:
    """Paths of computed-only attributes that the configuration gives a value."""
    if not isinstance(config, dict):
        return []
    found = []
    for name, spec in block.get("attributes", {}).items():
        only_computed = (
            spec.get("computed") and not spec.get("optional") and not spec.get("required")
        )
        if only_computed and config.get(name) is not None:
            found.append(f"{path}{name}")
    for name, nested in block.get("block_types", {}).items():
        value = config.get(name)
        if value is None:
            continue
        items = (
            value.values()
            if nested["nesting_mode"] == "map" and isinstance(value, dict)
            else (value if isinstance(value, list) else [value])
        )
        for item in items:
            found += unconfigurable(nested["block"], item, f"{path}{name}.")
    return found


class SchemaOnlyProvider(rpc.ProviderServicer):
    def __init__(self, schema: dict[str, Any]) -> None:
        self.schema = schema
        provider = schema.get("provider_block") or {"block": {}}
        self._response = pb.GetProviderSchema.Response(
            provider=schema_pb(provider),
            provider_meta=pb.Schema(block=pb.Schema.Block()),
            resource_schemas={t: schema_pb(s) for t, s in schema.get("resource", {}).items()},
            data_source_schemas={t: schema_pb(s) for t, s in schema.get("data", {}).items()},
        )

    def GetMetadata(self, request: Any, context: Any) -> Any:  # noqa: N802 - gRPC method names
        return pb.GetMetadata.Response(
            server_capabilities=pb.ServerCapabilities(get_provider_schema_optional=False),
            resources=[
                pb.GetMetadata.ResourceMetadata(type_name=t)
                for t in self.schema.get("resource", {})
            ],
            data_sources=[
                pb.GetMetadata.DataSourceMetadata(type_name=t) for t in self.schema.get("data", {})
            ],
        )

    def GetProviderSchema(self, request: Any, context: Any) -> Any:  # noqa: N802
        return self._response

    def _validate(self, kind: str, type_name: str, config: Any) -> list[pb.Diagnostic]:
        diags = Diagnostics()
        entry = self.schema.get(kind, {}).get(type_name)
        if entry is None:
            return diags.to_pb()
        for path in unconfigurable(entry["block"], read_dynamic_value(config)):
            diags.add_error(
                "Value for unconfigurable attribute",
                f'Can\'t configure a value for "{path}": its value will be decided automatically '
                "based on the result of applying this configuration.",
            )
        return diags.to_pb()

    def ValidateProviderConfig(self, request: Any, context: Any) -> Any:  # noqa: N802
        return pb.ValidateProviderConfig.Response()

    def ValidateResourceConfig(self, request: Any, context: Any) -> Any:  # noqa: N802
        diagnostics = self._validate("resource", request.type_name, request.config)
        return pb.ValidateResourceConfig.Response(diagnostics=diagnostics)

    def ValidateDataResourceConfig(self, request: Any, context: Any) -> Any:  # noqa: N802
        diagnostics = self._validate("data", request.type_name, request.config)
        return pb.ValidateDataResourceConfig.Response(diagnostics=diagnostics)

    def ConfigureProvider(self, request: Any, context: Any) -> Any:  # noqa: N802
        return pb.ConfigureProvider.Response()

    def StopProvider(self, request: Any, context: Any) -> Any:  # noqa: N802
        return pb.StopProvider.Response()


def main(argv: list[str]) -> None:
    schema = json.loads(Path(argv[1]).read_text())
    # The runner builds `tf.provider.ProviderServicer(provider)`: serve ours in its place.
    tf.provider.ProviderServicer = lambda _provider: SchemaOnlyProvider(schema)  # type: ignore[assignment,misc]
    run_provider(None, argv)  # type: ignore[arg-type]


if __name__ == "__main__":
    main(sys.argv)
