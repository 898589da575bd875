"""What a learner can change in the linear net (``scratch.py``), and the article's presets.

Each setting is declared once, here; the Train page's widgets, the command line's ``--set`` and
the checks on every value are made from these declarations.
"""

from __future__ import annotations

from mnistkit.models.base import Hyperparameter, Preset

# The first article's network and training, as settings of this model.
ARTICLE_SETTINGS = {
    "loss": "squared_error",
    "batch_size": 1,
    "learning_rate": 1e-7,
    "input_scaling": "raw",
    "initial_weights": "article",
    "fit_intercept": False,
    "shuffle": False,
}

HYPERPARAMETERS = (
    Hyperparameter(
        "loss",
        "choice",
        "cross_entropy",
        "cross_entropy: softmax turns scores into probabilities, the right digit's is pushed "
        "up; squared_error: the article's (score - goal)².",
        options=("cross_entropy", "squared_error"),
    ),
    Hyperparameter(
        "batch_size",
        "int",
        100,
        "Images averaged per weight update; 1 updates after every image, as the article does.",
        low=1,
        high=1024,
    ),
    Hyperparameter(
        "learning_rate",
        "float",
        0.2,
        "How far each update moves the weights; too far and the loss blows up.",
        low=1e-9,
        high=10.0,
        log=True,
    ),
    Hyperparameter(
        "input_scaling",
        "choice",
        "unit",
        "unit: pixels divided by 255, from 0 to 1; raw: 0 to 255, as the article feeds them.",
        options=("unit", "raw"),
    ),
    Hyperparameter(
        "initial_weights",
        "choice",
        "zeros",
        "zeros, or the article's rows of 0.0000, 0.0001, ..., 0.0009 (one row per digit).",
        options=("zeros", "article"),
    ),
    Hyperparameter(
        "fit_intercept",
        "bool",
        True,
        "Learn a bias per digit besides its 784 weights (the article has none).",
    ),
    Hyperparameter(
        "shuffle",
        "bool",
        True,
        "Visit the images in a new random order each epoch (the article keeps their order).",
    ),
    Hyperparameter("epochs", "int", 10, "Passes over the training images.", low=1, high=50),
)
PRESETS = {
    "article": Preset(
        "article",
        "The article exactly: squared error, raw pixels, one image per update, learning rate "
        "1e-7, the first 1,000 training images, 5 epochs.",
        hyperparameters=ARTICLE_SETTINGS,
        train_size=1000,
        epochs=5,
        validation_share=0.0,
    ),
    "article-all-images": Preset(
        "article-all-images",
        "The article's settings on all 60,000 training images, which its pure-Python loops "
        "could not finish in a day; vectorised, it takes seconds.",
        hyperparameters=ARTICLE_SETTINGS,
        epochs=5,
        validation_share=0.0,
    ),
}
