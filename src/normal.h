/* normal: the standard normal distribution's quantile function, shared by the simulator's
 * normal scores and the detectors' sigma-unit statistics. */
#ifndef PGPULSE_NORMAL_H
#define PGPULSE_NORMAL_H

/* Phi^-1(p): the z with P(Z <= z) = p for a standard normal Z (Acklam's rational
 * approximation, relative error below 1.2e-9). -INFINITY for p <= 0, INFINITY for p >= 1. */
double normal_quantile(double p);

#endif
