{#-
  Per UTC day, per originator, objectType and actionType: how many changes, to how many
  objects, from when to when.
-#}

with changes as (

    select * from {{ ref('stg_lp_audittrail__changes') }}

)

select
    {{ lp_audittrail_key(['changed_on', 'originator', 'originator_login_name', 'object_type', 'action_type']) }} as daily_activity_id,
    changed_on as activity_date,
    originator,
    originator_login_name,
    object_type,
    action_type,
    count(*) as change_count,
    count(distinct object_name) as objects_changed,
    sum(case when originator_is_lpa then 1 else 0 end) as lpa_change_count,
    min(changed_at) as first_change_at,
    max(changed_at) as last_change_at
from changes
group by changed_on, originator, originator_login_name, object_type, action_type
