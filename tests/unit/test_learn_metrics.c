/* Unit tests for learn_metrics: ROC-AUC and average precision against values worked by hand
 * (scikit-learn gives the same on these pairs), ties, one-class inputs, accuracy, log loss,
 * MAE, RMSE and R². */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>

#include <cmocka.h>

#include "learn_metrics.h"

static void test_auc_by_hand(void **state)
{
    (void)state;
    /* y = 0 0 1 1, scores .1 .4 .35 .8: roc_auc_score 0.75, average_precision_score 0.8333. */
    learn_pair p[] = {{0.1, 0}, {0.4, 0}, {0.35, 1}, {0.8, 1}};
    assert_float_equal(learn_metrics_pairs_roc_auc(p, 4), 0.75, 1e-12);
    assert_float_equal(learn_metrics_pairs_pr_auc(p, 4), 5.0 / 6.0, 1e-12);
    /* Every score tied: ROC-AUC 0.5, AP the positive rate. */
    learn_pair t[] = {{0.5, 0}, {0.5, 1}, {0.5, 0}, {0.5, 0}};
    assert_float_equal(learn_metrics_pairs_roc_auc(t, 4), 0.5, 1e-12);
    assert_float_equal(learn_metrics_pairs_pr_auc(t, 4), 0.25, 1e-12);
    /* A perfect ranking. */
    learn_pair g[] = {{0.9, 1}, {0.2, 0}, {0.7, 1}, {0.1, 0}};
    assert_float_equal(learn_metrics_pairs_roc_auc(g, 4), 1.0, 1e-12);
    assert_float_equal(learn_metrics_pairs_pr_auc(g, 4), 1.0, 1e-12);
    /* One class only: undefined. */
    learn_pair o[] = {{0.9, 1}, {0.2, 1}};
    assert_true(isnan(learn_metrics_pairs_roc_auc(o, 2)));
    assert_true(isnan(learn_metrics_pairs_pr_auc(o, 2)));
}

static void test_classification(void **state)
{
    (void)state;
    learn_metrics m;
    learn_metrics_init(&m, 1);
    learn_metrics_add_class(&m, 1, 1, 0.8, 1, 0.8, 1);
    learn_metrics_add_class(&m, 1, 0, 0.4, 1, 0.6, 0);
    learn_metrics_add_class(&m, 0, 0, 0.9, 1, 0.1, 0);
    learn_metrics_add_class(&m, 0, 1, 0.0, 1, 0.0, 1); /* p 0 is clipped, not infinite */
    assert_float_equal(learn_metrics_accuracy(&m), 0.5, 1e-12);
    double ll = (-log(0.8) - log(0.4) - log(0.9) - log(1e-15)) / 4;
    assert_float_equal(learn_metrics_logloss(&m), ll, 1e-9);
    assert_float_equal(learn_metrics_roc_auc(&m), 0.5, 1e-12);
    learn_metrics_free(&m);
    learn_metrics_free(&m); /* twice is fine */
}

static void test_regression(void **state)
{
    (void)state;
    learn_metrics m;
    learn_metrics_init(&m, 0);
    const double y[] = {1, 2, 3, 4}, p[] = {1.5, 2, 2, 5};
    for (int i = 0; i < 4; i++) learn_metrics_add_value(&m, p[i], y[i]);
    learn_metrics_add_value(&m, NAN, 1); /* not counted */
    assert_int_equal(m.n, 4);
    assert_float_equal(learn_metrics_mae(&m), 2.5 / 4, 1e-12);
    assert_float_equal(learn_metrics_rmse(&m), sqrt(2.25 / 4), 1e-12);
    assert_float_equal(learn_metrics_r2(&m), 1 - 2.25 / 5, 1e-12);
    learn_metrics_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_auc_by_hand),
        cmocka_unit_test(test_classification),
        cmocka_unit_test(test_regression),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
