"""Deployment: ONNX export and its torch-free runner, pretrained model folders, the HTTP service.

Modules (import the one you need; nothing is imported here so that each stays light):

    onnx_export   trm export: one supervision step as an ONNX graph (+ unrolled, int8, fp16-weight variants)
    onnx_runner   numpy + onnxruntime runner of an export folder (official, adaptive and fixed-N modes)
    pretrained    save_pretrained / from_pretrained with a generated model card
    server        trm serve: FastAPI app with a cross-client request batcher and the web page
"""
