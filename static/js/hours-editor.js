// Opening-hours editor: as the manager types, the preview shows the week in French words
// (computed by the server with the same rules as the public page). Without JavaScript the
// "Voir l'aperçu" button does the same through the form.
(function () {
  "use strict";
  var form = document.getElementById("hours-form");
  if (!form) { return; }
  var field = document.getElementById("horaires");
  var preview = document.getElementById("apercu");
  var url = form.getAttribute("data-preview-url");
  var timezone = form.getAttribute("data-timezone");
  var timer = null;
  var latest = 0;

  function element(tag, text) {
    var node = document.createElement(tag);
    if (text !== undefined) { node.textContent = text; }
    return node;
  }

  function capfirst(text) { return text.charAt(0).toUpperCase() + text.slice(1); }

  function render(answer) {
    var title = element("h2", "Ce que verront les visiteurs");
    preview.replaceChildren(title);
    if (answer.erreur) {
      var error = element("p", "Horaires invalides : " + answer.erreur + ".");
      error.className = "field-error";
      preview.appendChild(error);
      field.setAttribute("aria-invalid", "true");
      return;
    }
    field.removeAttribute("aria-invalid");
    if (!answer.semaine.length) {
      preview.appendChild(element("p", "Horaires non renseignés."));
      return;
    }
    var table = element("table");
    table.className = "week";
    var body = element("tbody");
    answer.semaine.forEach(function (row) {
      var tr = element("tr");
      var th = element("th", capfirst(row.jour));
      th.setAttribute("scope", "row");
      tr.appendChild(th);
      tr.appendChild(element("td", row.horaires));
      body.appendChild(tr);
    });
    table.appendChild(body);
    preview.appendChild(table);
  }

  function refresh() {
    var ticket = ++latest;
    var query = "?horaires=" + encodeURIComponent(field.value) +
      "&fuseau=" + encodeURIComponent(timezone);
    fetch(url + query, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (answer) { if (answer && ticket === latest) { render(answer); } })
      .catch(function () { /* the button still works */ });
  }

  field.addEventListener("input", function () {
    window.clearTimeout(timer);
    timer = window.setTimeout(refresh, 250);
  });
}());
