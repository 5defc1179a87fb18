"""Exceptions raised by skae."""


class TrainingDivergedError(FloatingPointError):
    """Training produced a non-finite loss (NaN or inf).

    Raised by ``fit`` as soon as it happens, so no estimator is left with NaN codes. Lower
    the learning rate, scale the data, or clip gradients (skorch's
    ``GradientNormClipping`` in ``callbacks``).
    """


class TrainingInterruptedWarning(UserWarning):
    """``fit`` was interrupted (Ctrl+C, ``KeyboardInterrupt``) inside an epoch.

    The model keeps the weights of the last finished epoch and ``stop_reason_`` says
    so; catch this warning (or check ``stop_reason_``) to tell an interrupted fit from a
    finished one.
    """


__all__ = ["TrainingDivergedError", "TrainingInterruptedWarning"]
