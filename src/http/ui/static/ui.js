// meshdrift web page (issue #21): the only script, loaded as a module from this site (CSP script-src 'self').
// The page works without it; it only asks before a write that ends something.
for (const form of document.querySelectorAll('form[data-confirm]')) {
  form.addEventListener('submit', (event) => {
    if (!window.confirm(form.dataset.confirm ?? 'Are you sure?')) event.preventDefault();
  });
}
// "/" focuses the filter box, as on many dashboards.
document.addEventListener('keydown', (event) => {
  const box = document.getElementById('filter-input');
  if (event.key === '/' && box !== null && document.activeElement !== box) {
    event.preventDefault();
    box.focus();
  }
});
