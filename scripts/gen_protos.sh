#!/usr/bin/env bash
# Regenerate the Open Inference Protocol (KServe V2) gRPC stubs committed in serving/v2/proto/.
#
# The .proto is the protocol's own (github.com/kserve/open-inference-protocol,
# specification/protocol/open_inference_grpc.proto). grpcio-tools lives in its own venv here:
# its newest releases need protobuf 7, while the runtime (pulled in by dagster and tritonclient)
# is protobuf 6; 1.81's protoc emits code for protobuf 6.31+, which that runtime loads.
set -euo pipefail
cd "$(dirname "$0")/.."
TOOLS=.venv-protoc
PY=${PYTHON:-python3}
if [ ! -x "$TOOLS/bin/python" ]; then
  "$PY" -m venv "$TOOLS"
  "$TOOLS/bin/python" -m pip install --quiet 'grpcio-tools==1.81.1'
fi
# -I . makes the generated imports absolute (serving.v2.proto.open_inference_grpc_pb2).
"$TOOLS/bin/python" -m grpc_tools.protoc -I . \
  --python_out=. --pyi_out=. --grpc_python_out=. \
  serving/v2/proto/open_inference_grpc.proto
echo "generated serving/v2/proto/open_inference_grpc_pb2{,_grpc}.py"
