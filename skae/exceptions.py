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


class ImageLoadError(ValueError):
    """Images that :func:`skae.datasets.load_images` cannot read or cannot stack into one array.

    Parameters
    ----------
    problem : str
        What is wrong, naming the files at fault.
    remedy : str, default=""
        What the caller can do about it.
    kind : {"no_images", "unreadable", "not_finite", "sizes"}, default="unreadable"
        Which problem it is: ``"sizes"`` is cured by resizing.
    """

    def __init__(self, problem, remedy="", kind="unreadable"):
        super().__init__(f"{problem} {remedy}".strip())
        self.problem = problem
        self.remedy = remedy
        self.kind = kind


__all__ = ["ImageLoadError", "TrainingDivergedError", "TrainingInterruptedWarning"]
