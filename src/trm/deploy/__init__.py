"""Deployment: ONNX export and its torch-free runner, pretrained model folders, the HTTP service.

Modules (import the one you need; nothing is imported here so that each stays light):

    onnx_export   trm export: one supervision step as an ONNX graph (+ unrolled, int8, fp16-weight variants),
                  with copies of the engine and the task layer
    onnx_runner   the onnxruntime backend and solver of an export folder (numpy + onnxruntime only)
    backends      a model folder (PyTorch) or an export folder (onnxruntime) as one Solver
    pretrained    save_pretrained / from_pretrained with a generated model card
    batcher       trm serve's cross-client batcher around one engine
    server        trm serve: FastAPI app and the web page
"""
