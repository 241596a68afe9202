"""The claims of Example 11.5."""

from __future__ import annotations

from typing import Any

from widenet.app.experiments._base import Claim


def _certainly_all_right(result: dict[str, Any]) -> bool:
    """Whether every point of a :func:`classification` is certainly right."""
    return result["certainly_right"] == result["points"]


def _classification_text(result: dict[str, Any]) -> str:
    """Return a :func:`classification`'s accuracy, margin and rounding as text."""
    return (f"accuracy {result['accuracy']:.3f} ({result['points'] - result['certainly_right']} of "
            f"{result['points']} not certainly right); min y Phi = {result['margin']:.3g}, rounding of Phi <= "
            f"{result['rounding']:.1e}")


CLASSIFIED = ("every point certainly right: y_i Phi(x_i) > its rounding bound (the least-squares perturbation bound "
              "of w* for the SVD's backward error gamma_(m k), through the condition number of F, plus gamma_(k+1) "
              "of the dot product) for all i; below minus its bound a point counts as certainly wrong")


def _claims(results: dict[str, dict[str, Any]], certificate: list[int], clearance: float) -> list[Claim]:
    """Return the claims of Example 11.5: which classifier separates which dataset."""
    linear_ring = results["linear_ring"]
    examples = "an example, no hypotheses: the datasets of example_11_5_datasets (margin 0.3 around each boundary)"

    return [
        Claim(
            reference="Example 11.5 (dataset 1)",
            key="linear-separable",
            statement="The first dataset is separable by an affine line, and the linear least-squares classifier "
                      "sign(x^T w + b) classifies every point correctly.",
            predicted="every point certainly right (training accuracy 1)",
            measured=_classification_text(results["linear_separable"]),
            holds=_certainly_all_right(results["linear_separable"]),
            hypothesis=examples,
            criterion=CLASSIFIED,
        ),
        Claim(
            reference="Example 11.5 (dataset 2)",
            key="ring-not-linear",
            statement="No affine line separates the second dataset: a +1 point lies inside a triangle of -1 points "
                      "(a certificate found by searching all triangles), so the linear classifier must err.",
            predicted="a certificate exists; the linear classifier certainly wrong on at least one point",
            measured=((f"certificate: point {certificate[0]} inside the triangle {certificate[1:]}, each orientation "
                       f"{clearance:.3g} times its rounding bound or more; " if certificate
                       else "no certificate found; ")
                      + f"linear least squares: {_classification_text(linear_ring)}, "
                        f"{linear_ring['certainly_wrong']} certainly wrong"),
            holds=bool(certificate) and clearance > 1.0 and linear_ring["certainly_wrong"] > 0,
            hypothesis=examples,
            criterion=("the certificate's three orientation determinants share one sign, each beyond its rounding "
                       "bound gamma_4 (|a b| + |c d|); at least one point with y Phi(x) below minus its rounding "
                       "bound"),
        ),
        Claim(
            reference="Example 11.5, (11.2.6)",
            key="quadratic",
            statement="With the quadratic feature map phi(x) = (1, x1, x2, x1 x2, x1^2, x2^2), least squares on the "
                      "+-1 labels followed by sign separates both datasets.",
            predicted="every point of both datasets certainly right (training accuracy 1 on both)",
            measured=(f"dataset 1: {_classification_text(results['quadratic_separable'])}; dataset 2: "
                      f"{_classification_text(results['quadratic_ring'])}"),
            holds=(_certainly_all_right(results["quadratic_separable"])
                   and _certainly_all_right(results["quadratic_ring"])),
            hypothesis=examples,
            criterion=CLASSIFIED,
        ),
        Claim(
            reference="Example 11.5 (features 5 and 6)",
            key="squares",
            statement="In the features x1^2 and x2^2 the second dataset is separated by a line: least squares on "
                      "(1, x1^2, x2^2) classifies every point correctly.",
            predicted="every point certainly right (training accuracy 1)",
            measured=_classification_text(results["squares_ring"]),
            holds=_certainly_all_right(results["squares_ring"]),
            hypothesis=examples,
            criterion=CLASSIFIED,
        ),
    ]
