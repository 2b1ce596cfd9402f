"""Bedrock's embedding models as the emulator answers InvokeModel: each body checked against
the model's documented request schema (unknown fields, missing or out-of-range values refused
with a ValidationException), then a deterministic vector per text (the same text always gets
the same vector) of the requested size, with the token count each model reports."""
import hashlib
import math


class Invalid(Exception):
    pass


def family(model):
    if "titan-embed-text-v2" in model:
        return "titan-v2"
    if "titan-embed-text-v1" in model or "titan-embed-g1-text" in model:
        return "titan-v1"
    if "cohere.embed-v4" in model:
        return "cohere-v4"
    if "cohere.embed-" in model:
        return "cohere-v3"
    if "nova-2-multimodal-embeddings" in model:
        return "nova"
    return None


def vector(text, size, normalize=True):
    values = []
    seed = text.encode()
    while len(values) < size:
        seed = hashlib.sha256(seed).digest()
        values += [(b - 127.5) / 127.5 for b in seed]
    values = values[:size]
    if normalize:
        norm = math.sqrt(sum(v * v for v in values)) or 1.0
        values = [v / norm for v in values]
    return [round(v, 6) for v in values]


def tokens(text):
    return max(1, len(text.split()))


def _only(body, allowed):
    unknown = set(body) - set(allowed)
    if unknown:
        raise Invalid("Malformed input request: extraneous key [%s] is not permitted" % sorted(unknown)[0])


def answer(model, body):
    """(answer JSON, input token count) for an InvokeModel body; raises Invalid."""
    kind = family(model)
    if not isinstance(body, dict):
        raise Invalid("Malformed input request: expected an object")
    if kind in ("titan-v2", "titan-v1"):
        _only(body, ("inputText", "dimensions", "normalize", "embeddingTypes") if kind == "titan-v2" else ("inputText",))
        text = body.get("inputText")
        if not isinstance(text, str) or not text:
            raise Invalid("Malformed input request: #: required key [inputText] not found")
        size = body.get("dimensions", 1024) if kind == "titan-v2" else 1536
        if size not in (256, 512, 1024, 1536) or (kind == "titan-v2" and size == 1536):
            raise Invalid("Malformed input request: #/dimensions: %s is not a valid enum value" % size)
        v = vector(text, size, body.get("normalize", True))
        out = {"embedding": v, "inputTextTokenCount": tokens(text)}
        if kind == "titan-v2":
            out["embeddingsByType"] = {"float": v}
        return out, tokens(text)
    if kind in ("cohere-v3", "cohere-v4"):
        _only(body, ("texts", "input_type", "truncate", "embedding_types", "images", "inputs", "output_dimension",
                     "max_tokens") if kind == "cohere-v4" else ("texts", "input_type", "truncate", "embedding_types"))
        texts = body.get("texts")
        if not isinstance(texts, list) or not 1 <= len(texts) <= 96 or not all(isinstance(t, str) for t in texts):
            raise Invalid("Malformed input request: texts must hold 1 to 96 strings")
        if body.get("input_type") not in ("search_document", "search_query", "classification", "clustering"):
            raise Invalid("Malformed input request: #: required key [input_type] not found")
        if kind == "cohere-v3" and any(len(t) > 2048 for t in texts):
            raise Invalid("Malformed input request: a text is longer than 2048 characters")
        size = body.get("output_dimension", 1536) if kind == "cohere-v4" else 1024
        if size not in (256, 512, 1024, 1536):
            raise Invalid("Malformed input request: output_dimension")
        vectors = [vector(t, size) for t in texts]
        types = body.get("embedding_types")
        embeddings = {"float": vectors} if types else vectors
        return ({"id": "emb-fake", "texts": texts, "embeddings": embeddings,
                 "response_type": "embeddings_by_type" if types else "embeddings_floats"},
                sum(tokens(t) for t in texts))
    if kind == "nova":
        _only(body, ("schemaVersion", "taskType", "singleEmbeddingParams"))
        if body.get("taskType") != "SINGLE_EMBEDDING":
            raise Invalid("Malformed input request: taskType must be SINGLE_EMBEDDING for InvokeModel")
        params = body.get("singleEmbeddingParams") or {}
        if params.get("embeddingPurpose") not in ("GENERIC_INDEX", "GENERIC_RETRIEVAL", "TEXT_RETRIEVAL",
                                                  "CLASSIFICATION", "CLUSTERING"):
            raise Invalid("Malformed input request: embeddingPurpose")
        size = params.get("embeddingDimension", 3072)
        if size not in (256, 384, 1024, 3072):
            raise Invalid("Malformed input request: embeddingDimension")
        text = params.get("text") or {}
        if text.get("truncationMode") not in ("START", "END", "NONE") or not isinstance(text.get("value"), str):
            raise Invalid("Malformed input request: text needs truncationMode and value")
        return ({"embeddings": [{"embeddingType": "TEXT", "embedding": vector(text["value"], size)}]},
                tokens(text["value"]))
    raise Invalid("this model does not embed")
