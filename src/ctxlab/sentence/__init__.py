"""A sentence-embedding language model (SONAR-LLM style): prompts split into sentences, each
sentence a vector from a frozen `SentenceCodec`, a small causal transformer over the vectors that
predicts the next sentence's vector, decoded back to text by the codec's frozen decoder.

Modules: `split` (prompt -> sentences), `codec` (the interface and its card), `charcodec` (the
offline `tiny`, `autoencoder` and `minilm` codecs), `codec_train` (their training corpus and
loop), `sonar` (the SONAR wrapper), `store` (precomputed embeddings), `data` (examples as
sentence sequences, batches), `model` (SentenceLM), `train` and `evaluate` (the loop and
scoring). The run itself is `recipes/sentence.py`; its report `reporting/sentence_report.py`.
"""
