// OAuth 2.0 Form Post Response Mode: submit the hidden form to the app once the page loads.
document.addEventListener("DOMContentLoaded", function () {
  var form = document.getElementById("form-post");
  if (form) { form.submit(); }
});
