def build_output(data, model_output, idx):
    return {
        "utt_id": data["utt_id"],
        "hyp": model_output["text"],
        "ref": data.get("text", ""),
    }
