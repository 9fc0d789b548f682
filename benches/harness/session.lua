-- wrk script: behave as one admitted visitor, keeping the session cookie the
-- way a browser does (the first answer sets a provisional session, the next
-- one its confirmed form), so the run measures the admitted path, not
-- admission.
wrk.path = "/"
response = function(status, headers, body)
  local sc = headers["Set-Cookie"] or headers["set-cookie"]
  if sc ~= nil then
    wrk.headers["Cookie"] = sc:match("^([^;]+)")
  end
end
