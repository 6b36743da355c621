// After a form comes back with problems, start keyboard and screen-reader users
// at the summary of what to fix (WCAG 2.4.3 focus order, 3.3.1 error identification).
document.addEventListener('DOMContentLoaded', () => {
  const summary = document.querySelector('.error-summary');
  if (!summary) {
    return;
  }
  if (!summary.hasAttribute('tabindex')) {
    summary.setAttribute('tabindex', '-1');
  }
  summary.focus();
});
