"""Exceptions raised by skae."""


class TrainingDivergedError(FloatingPointError):
    """Training produced a non-finite loss (NaN or inf).

    Raised by ``fit`` as soon as it happens, so no estimator is left with NaN codes. Lower
    the learning rate, scale the data, or clip gradients (skorch's
    ``GradientNormClipping`` in ``callbacks``).
    """


__all__ = ["TrainingDivergedError"]
