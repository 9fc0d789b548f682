-- wrk script: behave as one admitted visitor. The first response's
-- Set-Cookie (a session, since the room has space) is sent on every
-- following request, so the run measures the admitted path, not admission.
wrk.path = "/"
local cookie = nil
response = function(status, headers, body)
  if cookie == nil then
    local sc = headers["Set-Cookie"] or headers["set-cookie"]
    if sc ~= nil then
      cookie = sc:match("^([^;]+)")
      wrk.headers["Cookie"] = cookie
    end
  end
end
