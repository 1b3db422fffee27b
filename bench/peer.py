"""The transformers peer: imgtokens' fresh-process job done by Hugging Face transformers + torch.

    python3 bench/peer.py PHOTO --model DIR --json OUT.json [-k 5] [--vision-layers 24|23]

does what `imgtokens PHOTO --model DIR --method cosine -k 5 --json OUT.json` does, in one fresh Python
process, with transformers' own classes (measured with transformers 5.12.1 and torch 2.14.1 from Debian
forky; see docs/bench.md, "The transformers peer"):

1. import torch and transformers;
2. load, from local files only (HF_HUB_OFFLINE=1, local_files_only=True):
   - AutoConfig of DIR, then `LlavaModel.from_pretrained(DIR, config=..., dtype=torch.float32)`.
     `LlavaModel` (not `LlavaForConditionalGeneration`) because the cosine lens needs no lm_head; imgtokens
     does not read lm_head for `--method cosine` either (src/lens/lens.ts builds the lm_head session only
     for the methods over it). With `text_config.num_hidden_layers = 0` the Llama text model is
     embed_tokens [32064, 4096] + the final norm, no decoder layers: the cosine lens compares image tokens
     with embed_tokens before any decoder layer, so neither tool needs them (the bench checkpoint does not
     even hold them; bench/synth.ts). Everything else is transformers' stock loading path: the checkpoint's
     F16 safetensors are read and cast to float32, the old-style key names ("language_model.model.*",
     "vision_tower.*", "multi_modal_projector.*") are renamed by transformers' own llava conversion mapping.
   - The vision tower is CLIP ViT-L/14-336 as configured: 24 layers by default, as transformers builds
     and runs it for the real llava-1.5 checkpoint. get_image_features runs every layer and then takes
     hidden_states[-2] (vision_feature_layer -2), so layer 23 (and post_layernorm) are computed and
     thrown away; the bench checkpoint has no weights for them, so transformers initialises them (a
     warning; their values never reach the output). `--vision-layers 23` builds the tower with 23 layers
     and takes hidden_states[-1], the same tensor (CLIPEncoder collects the embeddings, then each layer's
     output; post_layernorm touches only the pooled CLS), which is exactly the work imgtokens does
     (it runs layers 0..22): the strict like-for-like figure. The default is transformers as users run it.
   - AutoProcessor of DIR (LlavaProcessor: the CLIP image processor, torchvision backend, transformers 5's
     default, the same backend imgtokens uses by default; and the tokenizer, for the token texts).
3. preprocess: open and decode the photo with PIL, run the image processor (convert to RGB, resize
   shortest edge 336 bicubic, center crop 336, rescale, normalize) -> pixel_values [1, 3, 336, 336];
4. vision: `model.get_image_features(pixel_values, vision_feature_layer, "default")`: CLIP tower, drop CLS,
   the 1024->4096->4096 GELU projector -> 576 image tokens [576, 4096];
5. cosine: F.normalize both the tokens and embed_tokens, tokens @ embedᵀ [576, 32064], topk k per token,
   the ids' token texts; write the JSON (schema "imgtokens-peer/1": per token index, the top ids, texts and
   scores; the 576 tokens in imgtokens' row-major order).

Prints one line of timings in seconds, each stage's and the total from process start (a perf_counter
timestamp taken before any import), plus peak RSS (getrusage ru_maxrss). torch's thread count is left at
its default (all cores). Time the whole process from outside too (e.g. /usr/bin/time): the interpreter's
own start-up comes before the first timestamp.
"""

import time

T0 = time.perf_counter()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("photo")
    ap.add_argument("--model", required=True, help="local LLaVA checkpoint folder")
    ap.add_argument("--json", required=True, help="where to write the result")
    ap.add_argument("-k", type=int, default=5)
    ap.add_argument("--vision-layers", type=int, choices=(23, 24), default=24)
    args = ap.parse_args()

    marks = {}
    import torch
    import torch.nn.functional as F
    import transformers
    from transformers import AutoConfig, AutoProcessor, LlavaModel

    marks["import"] = time.perf_counter()

    config = AutoConfig.from_pretrained(args.model, local_files_only=True)
    config.text_config.num_hidden_layers = 0  # the cosine lens reads embed_tokens only
    feature_layer = config.vision_feature_layer  # -2 for llava-1.5
    if args.vision_layers == 23:
        if config.vision_config.num_hidden_layers != 24 or feature_layer != -2:
            raise SystemExit("--vision-layers 23 assumes a 24-layer tower and vision_feature_layer -2")
        config.vision_config.num_hidden_layers = 23
        feature_layer = -1  # hidden_states[-1] of 23 layers == hidden_states[-2] of 24
    model = LlavaModel.from_pretrained(args.model, config=config, dtype=torch.float32, local_files_only=True)
    model.eval()
    processor = AutoProcessor.from_pretrained(args.model, local_files_only=True)
    marks["load"] = time.perf_counter()

    from PIL import Image

    with torch.inference_mode():
        image = Image.open(args.photo)
        image.load()
        width, height = image.size
        pixel_values = processor.image_processor(images=image, return_tensors="pt")["pixel_values"]
        marks["preprocess"] = time.perf_counter()

        out = model.get_image_features(
            pixel_values=pixel_values.to(torch.float32),
            vision_feature_layer=feature_layer,
            vision_feature_select_strategy=config.vision_feature_select_strategy,
        )
        feats = out.pooler_output[0]  # [576, 4096]
        marks["vision"] = time.perf_counter()

        embed = model.get_input_embeddings().weight  # [32064, 4096]
        sims = F.normalize(feats, dim=-1) @ F.normalize(embed, dim=-1).T  # [576, 32064]
        scores, ids = torch.topk(sims, args.k, dim=-1)
        ids_l = ids.tolist()
        scores_l = scores.tolist()
        tok = processor.tokenizer
        result = {
            "schema": "imgtokens-peer/1",
            "transformers": transformers.__version__,
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "imageProcessor": type(processor.image_processor).__name__,
            "visionLayers": args.vision_layers,
            "image": {"width": width, "height": height, "pixelValues": list(pixel_values.shape)},
            "method": "cosine",
            "k": args.k,
            "tokens": [
                {
                    "index": i,
                    "top": [
                        {"id": t, "text": tok.convert_ids_to_tokens(t), "score": s}
                        for t, s in zip(ids_l[i], scores_l[i])
                    ],
                }
                for i in range(len(ids_l))
            ],
        }
        with open(args.json, "w") as f:
            json.dump(result, f)
        marks["cosine"] = time.perf_counter()

    prev = T0
    parts = []
    for name, t in marks.items():
        parts.append(f"{name} {t - prev:.2f}")
        prev = t
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"peer: {' | '.join(parts)} | total {prev - T0:.2f} s | peak RSS {rss_mb:.0f} MB"
        f" | {len(ids_l)} tokens, {torch.get_num_threads()} threads, vision layers {args.vision_layers},"
        f" transformers {transformers.__version__}, torch {torch.__version__}",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
